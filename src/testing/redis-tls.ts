import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './temp-dir.js';

/**
 * TLS for tests (docs/sharing.md, "Cluster and Sentinel", on TLS): a throwaway CA and a certificate for 127.0.0.1
 * that it signed, made with the `openssl` CLI in a fresh temp dir, for a `redis-server --tls-port …` of the test's
 * own (`startOwnRedis({ tls })`, `startOwnCluster({ tls })`). Nothing is trusted system-wide: a client trusts the
 * CA only when told to (`NODE_EXTRA_CA_CERTS=<ca>`, `tls: { ca }`, `redis-cli --cacert`).
 */

/** What a run without `openssl` is told. */
export const MISSING_OPENSSL =
  'openssl is not installed (or not on PATH): the TLS tests make their throwaway certificates with it. Install it ' +
  '(Debian/Ubuntu: apt-get install openssl; macOS: brew install openssl)';

/** The files a TLS `redis-server` needs: paths of PEM files. */
export interface TlsFiles {
  /** The CA certificate: what a client must trust (`NODE_EXTRA_CA_CERTS`), and `--tls-ca-cert-file`. */
  ca: string;
  /** The server's certificate, signed by `ca`, for IP 127.0.0.1 (subjectAltName), usable as a client's too (a Cluster's bus). */
  cert: string;
  /** The server certificate's private key. */
  key: string;
}

export interface TestCertificates extends TlsFiles {
  /** The temp dir that holds them. */
  dir: string;
  /** Removes the dir; safe to call twice. */
  cleanup(): Promise<void>;
}

/** One config for both certificates (own file: the machine's openssl.cnf does not change what is made). */
const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = users-subgraph throwaway test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error === null) return resolve();
      const code = (error as NodeJS.ErrnoException).code;
      reject(new Error(code === 'ENOENT' ? MISSING_OPENSSL : `${command} ${args[0]} failed: ${stderr.trim() || error.message}`));
    });
  });
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1 it signed (P-256 keys, valid for 2 days), in a fresh
 * temp dir that `cleanup()` removes (and, failing that, the worker's exit).
 */
export async function makeTestCertificates(options: { days?: number; command?: string } = {}): Promise<TestCertificates> {
  const dir = await makeTempDir('tls');
  const cleanup = () => removeTempDir(dir);
  const command = options.command ?? 'openssl';
  const days = String(options.days ?? 2);
  try {
    await writeFile(join(dir, 'openssl.cnf'), CONFIG);
    await openssl(
      ['req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', days],
      dir,
      command,
    );
    await openssl(
      ['req', '-new', '-config', 'openssl.cnf', ...KEY, '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr'],
      dir,
      command,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-days',
        days,
        '-extfile',
        'openssl.cnf',
        '-extensions',
        'server',
        '-out',
        'server.crt',
      ],
      dir,
      command,
    );
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { dir, ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), cleanup };
}

/**
 * The `redis-server` arguments that serve TLS on `tlsPort` with `files` (clients need no certificate of their own;
 * a Cluster node's bus and a replica's link use `files.cert` as theirs). `--port` is the caller's: `0` for TLS only.
 */
export function redisTlsArgs(files: TlsFiles, tlsPort: number): string[] {
  return [
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    files.cert,
    '--tls-key-file',
    files.key,
    '--tls-ca-cert-file',
    files.ca,
    '--tls-auth-clients',
    'no',
  ];
}
