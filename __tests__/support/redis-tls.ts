// A TLS-only redis-server for the tests: certificates made with openssl (a CA, a server
// certificate for 127.0.0.1 and localhost that it signed, and an unrelated second CA), and the
// server started on a free TLS port with no plain port.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { freePort } from './redis-server';

/** A running TLS-only redis-server and the files its clients need. */
export interface TlsRedisProcess {
  /** `rediss://127.0.0.1:<port>`. */
  readonly url: string;
  /** The PEM file of the CA that signed the server's certificate. */
  readonly caPath: string;
  /** The PEM file of a CA that signed nothing the server shows. */
  readonly otherCaPath: string;
  /** Stops the server and removes the certificates. */
  stop(): Promise<void>;
}

/** Makes the certificates in `dir`: ca.pem, server.pem and server.key, other-ca.pem. */
export function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const [name, subject] of [['ca', 'router test CA'], ['other-ca', 'unrelated test CA']]) {
    openssl('req', '-x509', ...key, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${subject}`);
  }
  openssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
}

/** Resolves once the server on `port` answers PING over TLS, or rejects after `timeoutMs`. */
export async function waitForTlsPing(port: number, ca: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca });
      socket.setTimeout(500);
      socket.once('secureConnect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        // A server that wants a password answers NOAUTH: it is up all the same.
        resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on TLS port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Makes certificates in a fresh temporary folder and starts a TLS-only redis-server with them. */
export async function startTlsRedis(): Promise<TlsRedisProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'router-tls-'));
  let child: ChildProcess | null = null;
  const stop = async () => {
    const running = child;
    if (running && running.exitCode === null && running.signalCode === null) {
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGTERM');
      });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    makeCertificates(dir);
    const port = await freePort();
    const file = (name: string) => path.join(dir, name);
    child = spawn('redis-server', [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--tls-cert-file', file('server.pem'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.pem'),
      '--tls-auth-clients', 'no',
    ], { stdio: 'ignore' });
    await waitForTlsPing(port, fs.readFileSync(file('ca.pem'), 'utf8'));
    return { url: `rediss://127.0.0.1:${port}`, caPath: file('ca.pem'), otherCaPath: file('other-ca.pem'), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
