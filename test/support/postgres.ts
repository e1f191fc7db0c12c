/**
 * A private PostgreSQL 15 cluster for tests that stop the database (the shared server is never stopped): initdb in
 * a temporary directory owned by the `postgres` user (the server refuses to run as root), on a free port, with
 * trust authentication. `kill()` is an immediate shutdown (as a crash), `launch()` starts it again on the same
 * port and data.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.js';

const BIN = process.env.CELERIAC_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

export class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'celeriac-pg-'));
  private readonly data = join(this.dir, 'data');

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivatePostgres> {
    const server = new PrivatePostgres(await freePort());
    server.init();
    server.launch();
    return server;
  }

  /** Runs a PostgreSQL binary, as the postgres user when this process is root. */
  private run(binary: string, args: string[]): void {
    const command = join(BIN, binary);
    if (userInfo().uid === 0)
      execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe' });
    else execFileSync(command, args, { stdio: 'pipe' });
  }

  private init(): void {
    if (userInfo().uid === 0) {
      const { uid, gid } = postgresIds();
      chownSync(this.dir, uid, gid);
    }
    this.run('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  }

  get url(): string {
    return `db+postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  launch(): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    this.run('pg_ctl', ['-D', this.data, '-o', options, '-l', join(this.dir, 'log'), '-w', 'start']);
  }

  /** An immediate shutdown: connections are cut, as when the server crashes. */
  kill(): void {
    this.run('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
  }

  stop(): void {
    try {
      this.run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
    } catch {
      // Already stopped.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
