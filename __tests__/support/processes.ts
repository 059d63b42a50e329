// Routers in processes of their own (support/router-process.js), whose JSON lines the tests read;
// and commands run to completion (npm, tsc, node in a consumer's project).
import { ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';

/** A running router process and every line it printed so far. */
export interface RouterProcess {
  readonly lines: Array<Record<string, unknown>>;
  /** Resolves once a line matches, or rejects after `timeoutMs` or when the process exits first. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `router-process.js` with `spec`. */
export function startRouterProcess(spec: Record<string, unknown>): RouterProcess {
  const child: ChildProcess = spawn(process.execPath, [path.join(__dirname, 'router-process.js'), JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, newline)));
      buffered = buffered.slice(newline + 1);
    }
    waiters.splice(0).forEach((wake) => wake());
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      waiters.splice(0).forEach((wake) => wake());
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  return {
    lines,
    exited,
    kill: (signal) => child.kill(signal),
    waitForLine(match, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (lines.some(match)) return resolve();
          if (ended) return reject(new Error(`router process exited before the expected line; last: ${JSON.stringify(lines.slice(-3))}`));
          if (Date.now() > deadline) return reject(new Error(`no expected line within ${timeoutMs} ms`));
          waiters.push(check);
          setTimeout(check, 50);
        };
        check();
      });
    },
  };
}

/**
 * Runs a command to completion as in a user's shell: colour off (a CI that sets FORCE_COLOR would
 * put escape codes in the output the tests match), no npm update notice, and no binding forced by
 * NAPI_RS_NATIVE_LIBRARY_PATH (a consumer finds the binary through its own node_modules).
 * Resolves its stdout, and its stderr after it with `withStderr` (npm writes its notices there);
 * rejects with all its output when it fails.
 */
export function runCommand(
  command: string,
  args: string[],
  cwd: string,
  { timeoutMs = 120_000, withStderr = false }: { timeoutMs?: number; withStderr?: boolean } = {},
): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false', NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: timeoutMs, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(withStderr ? stdout + stderr : stdout);
    });
  });
}
