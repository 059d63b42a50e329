// The release binaries that `npm run build:all` puts in npm/<platform>/, read with LLVM's tools
// (rustup's llvm-tools): each is a shared library of its platform's format and architecture, for
// its libc, exporting the N-API entry point; the Linux ones need nothing newer than glibc 2.17, the
// darwin ones bind each framework symbol to its framework. The one for this machine's platform
// is the one this run's tests load (see use-release-binary.js) and route with.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { llvmTool } = require('../../scripts/llvm-tools') as { llvmTool(name: string): string };
const { platformOf, currentPlatform, binaryFileOf } = require('../../lib/native') as {
  platformOf(t: string): string;
  currentPlatform(): string;
  binaryFileOf(platform: string): string;
};
const pkg = require('../../package.json') as { napi: { targets: string[] } };

const ROOT = path.join(__dirname, '..', '..');
/** This machine's architecture as llvm-readobj names it. */
const HOST_ARCH = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[process.arch];

interface Expected {
  format: string;
  arch: string;
  libc?: 'glibc' | 'musl';
  /** The oldest macOS it loads on (LC_BUILD_VERSION's minos): 11.0 from Apple's linker, 11.7.1 from zig's. */
  macos?: RegExp;
}

const EXPECTED: Record<string, Expected> = {
  'x86_64-unknown-linux-gnu': { format: 'elf64-x86-64', arch: 'x86_64', libc: 'glibc' },
  'aarch64-unknown-linux-gnu': { format: 'elf64-littleaarch64', arch: 'aarch64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { format: 'elf64-x86-64', arch: 'x86_64', libc: 'musl' },
  'aarch64-unknown-linux-musl': { format: 'elf64-littleaarch64', arch: 'aarch64', libc: 'musl' },
  'x86_64-apple-darwin': { format: 'Mach-O 64-bit x86-64', arch: 'x86_64', macos: /^11\.\d+(\.\d+)?$/ },
  'aarch64-apple-darwin': { format: 'Mach-O arm64', arch: 'aarch64', macos: /^11\.\d+(\.\d+)?$/ },
};

function tool(name: string, args: string[]): string {
  return execFileSync(llvmTool(name), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function binaryOf(target: string): string {
  const platform = platformOf(target);
  return path.join(ROOT, 'npm', platform, binaryFileOf(platform));
}

describe('the release binaries', () => {
  it('cover exactly the targets package.json lists, each with what its platform needs', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...pkg.napi.targets].sort());
  });

  describe.each(pkg.napi.targets)('%s', (target) => {
    const expected = EXPECTED[target];
    const binary = binaryOf(target);

    it('is in its platform package, built by npm run build:all', () => {
      expect(fs.existsSync(binary) ? binary : `${binary} is missing: run npm run build:all`).toBe(binary);
      const platformPackage = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'package.json'), 'utf8'));
      expect(platformPackage.main).toBe(path.basename(binary));
    });

    it(`is a ${expected.format} shared library for ${expected.arch}`, () => {
      const headers = tool('llvm-readobj', ['--file-headers', binary]);
      expect(headers).toMatch(new RegExp(`^Format: ${expected.format}$`, 'm'));
      expect(headers).toMatch(new RegExp(`^Arch: ${expected.arch}$`, 'm'));
      expect(headers).toMatch(expected.macos ? /FileType: DynamicLibrary \(0x6\)/ : /Type: SharedObject \(0x3\)/);
    });

    it('exports the N-API entry point, napi_register_module_v1', () => {
      const exported = expected.macos
        ? tool('llvm-nm', ['-g', '--defined-only', binary])
        : tool('llvm-nm', ['-D', '--defined-only', binary]);
      expect(exported).toMatch(expected.macos ? / T _napi_register_module_v1$/m : / T napi_register_module_v1$/m);
    });

    if (expected.libc === 'glibc') {
      it('links glibc, no newer than 2.17', () => {
        expect(tool('llvm-readobj', ['--needed-libs', binary])).toMatch(/^\s+libc\.so\.6$/m);
        const versions = [...tool('llvm-readobj', ['--version-info', binary]).matchAll(/GLIBC_(\d+)\.(\d+)/g)]
          .map(([, major, minor]) => Number(major) * 1000 + Number(minor));
        expect(versions.length).toBeGreaterThan(0);
        expect(Math.max(...versions)).toBeLessThanOrEqual(2017);
      });
    }

    if (expected.libc === 'musl') {
      it("links musl's libc (which is also its loader), not glibc", () => {
        const needed = tool('llvm-readobj', ['--needed-libs', binary]);
        expect(needed).toMatch(/^\s+libc\.so$/m);
        expect(needed).not.toMatch(/libc\.so\.6|libpthread|libdl|libm\.so/);
        expect(tool('llvm-readobj', ['--version-info', binary])).not.toMatch(/GLIBC_/);
      });
    }

    if (expected.libc === 'musl') {
      it('uses no initial-exec TLS, which musl\'s loader refuses in a library it dlopen()s', () => {
        // DF_STATIC_TLS and TPOFF (x86-64) / TLS_TPREL (AArch64) relocations mark initial-exec TLS;
        // mimalloc builds with local-dynamic TLS on musl (Cargo.toml) to leave none.
        expect(tool('llvm-readobj', ['--dynamic-table', binary])).not.toMatch(/STATIC_TLS/);
        expect(tool('llvm-readobj', ['--relocs', binary])).not.toMatch(/R_X86_64_TPOFF|R_AARCH64_TLS_TPREL/);
      });
    }

    if (expected.libc === 'musl' && expected.arch === HOST_ARCH) {
      it("is loaded by musl's dynamic linker, as Node.js on Alpine loads it", () => {
        // A musl program that exports a stand-in for each N-API function the binary needs (as
        // Node.js does) and dlopen()s it with every relocation resolved at once.
        const work = fs.mkdtempSync(path.join(os.tmpdir(), 'musl-dlopen-'));
        try {
          const napi = tool('llvm-nm', ['-D', '--undefined-only', binary]).split('\n')
            .map((line) => line.trim().split(/\s+/).pop()!).filter((symbol) => /^(napi|node_api)_/.test(symbol));
          expect(napi.length).toBeGreaterThan(20);
          fs.writeFileSync(path.join(work, 'host.c'), [
            '#include <dlfcn.h>',
            '#include <stdio.h>',
            ...napi.map((symbol) => `int ${symbol}(void) { return 1; }`),
            'int main(int argc, char **argv) {',
            '  void *library = dlopen(argv[1], RTLD_NOW);',
            '  if (!library) { printf("dlopen failed: %s\\n", dlerror()); return 1; }',
            '  printf("loaded, napi_register_module_v1 %s\\n", dlsym(library, "napi_register_module_v1") ? "found" : "missing");',
            '  return 0;',
            '}',
          ].join('\n'));
          // musl-gcc: Debian's musl-tools (.ci/run installs it).
          execFileSync('musl-gcc', ['-rdynamic', '-o', path.join(work, 'host'), path.join(work, 'host.c')]);
          // On failure, stdout holds musl's reason ("dlopen failed: Error relocating …").
          expect(spawnSync(path.join(work, 'host'), [binary], { encoding: 'utf8' }).stdout).toBe('loaded, napi_register_module_v1 found\n');
          // The program really is musl's: its interpreter is musl's loader.
          expect(fs.readFileSync(path.join(work, 'host')).includes('/lib/ld-musl-')).toBe(true);
        } finally {
          fs.rmSync(work, { recursive: true, force: true });
        }
      });
    }

    const macos = expected.macos;
    if (macos) {
      it('loads on macOS 11 and later, linking only libSystem and its two frameworks', () => {
        const loads = tool('llvm-objdump', ['--macho', '--private-headers', binary]);
        expect(/^\s*minos (\S+)$/m.exec(loads)?.[1]).toMatch(macos);
        const dylibs = tool('llvm-objdump', ['--macho', '--dylibs-used', binary]).split('\n').slice(1).map((l) => l.trim().split(' ')[0]).filter(Boolean);
        expect(dylibs).toEqual(expect.arrayContaining([
          '/usr/lib/libSystem.B.dylib',
          '/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation',
          '/System/Library/Frameworks/Security.framework/Versions/A/Security',
        ]));
        expect(dylibs.filter((d) => !/^\/usr\/lib\/|^\/System\/Library\/Frameworks\/(CoreFoundation|Security)\.framework\//.test(d) && !d.endsWith('liborchestrator_router.dylib')))
          .toEqual([]);
      });

      it('binds every symbol it takes from macOS to its library; only N-API is left to Node.js', () => {
        const undefinedSymbols = tool('llvm-nm', ['-m', '-u', binary]).split('\n').filter(Boolean);
        expect(undefinedSymbols.length).toBeGreaterThan(100);
        const unbound = undefinedSymbols.filter((line) => !/\(from \S+\)/.test(line)).map((line) => line.trim().split(' ').pop());
        // A framework symbol left unbound here means cross/macos-sdk's stubs are out of date:
        // node scripts/macos-sdk-stubs.js npm/darwin-*/*.node writes them again.
        expect(unbound.filter((symbol) => !/^_(napi|node_api)_/.test(symbol!))).toEqual([]);
      });
    }
  });

  it("is what this run's tests load, on this machine's platform", () => {
    const platform = currentPlatform();
    const target = pkg.napi.targets.find((t) => platformOf(t) === platform)!;
    expect(process.env.NAPI_RS_NATIVE_LIBRARY_PATH).toBe(binaryOf(target));
    const { loadBinding } = require('../../lib/native') as { loadBinding(): { NativeRouter: unknown } };
    expect(typeof loadBinding().NativeRouter).toBe('function');
    const report = process.report!.getReport() as unknown as { sharedObjects: string[] };
    expect(report.sharedObjects).toContain(binaryOf(target));
    // No other build of it is loaded (jest's own resolver is a native module too).
    expect(report.sharedObjects.filter((s) => s.includes('orchestrator-router'))).toEqual([binaryOf(target)]);
  });
});
