/**
 * Logging: pino underneath, printed in Celery's text format by default
 * (`[2026-11-24 18:14:08,752: INFO/MainProcess] Task tasks.add[...] succeeded in 0.001s: 5`) or as JSON lines.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';
export type LogFormat = 'text' | 'json';
export type LogLevel = LevelWithSilent;

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Shown where Celery shows the process name (`MainProcess`, `ForkPoolWorker-1`). */
  processName?: string;
  /** Where lines go; standard error by default. */
  destination?: { write(line: string): unknown };
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARNING',
  50: 'ERROR',
  60: 'CRITICAL',
};

/** Accepts Celery's level names (`warning`, `critical`) as well as pino's. */
export function parseLogLevel(value: string): LogLevel {
  const lower = value.toLowerCase();
  const mapped: Record<string, LogLevel> = { warning: 'warn', critical: 'fatal', fatal: 'fatal' };
  const level = mapped[lower] ?? lower;
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) {
    throw new Error(
      `Unknown log level "${value}": use one of debug, info, warning, error, critical (or silent)`,
    );
  }
  return level as LogLevel;
}

function celeryTimestamp(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},${pad(d.getMilliseconds(), 3)}`
  );
}

/** A pino destination that rewrites each JSON line into Celery's text format. */
function textDestination(
  processName: string,
  out: { write(line: string): unknown },
): { write(line: string): void } {
  return {
    write(line: string): void {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { level, time, msg, err, pid: _pid, hostname: _host, proc, ...rest } = record;
      const levelName = LEVEL_NAMES[Number(level)] ?? String(level);
      const name = typeof proc === 'string' ? proc : processName;
      let text = `[${celeryTimestamp(Number(time))}: ${levelName}/${name}] ${typeof msg === 'string' ? msg : JSON.stringify(msg ?? '')}`;
      const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      text += extra;
      if (err && typeof err === 'object' && 'stack' in err) text += `\n${String(err.stack)}`;
      out.write(`${text}\n`);
    },
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const out = options.destination ?? process.stderr;
  const level = options.level ?? 'info';
  if (options.format === 'json') {
    return pino({ level, base: { pid: process.pid } }, out);
  }
  return pino({ level, base: null }, textDestination(options.processName ?? 'MainProcess', out));
}

/**
 * A log file destination (`--logfile`), appended to and created with its directory when missing. Writes are
 * synchronous so that the last lines before an exit (a crash, a cold shutdown) are not lost.
 */
export function logFileDestination(path: string): { write(line: string): unknown } {
  return pino.destination({ dest: path, append: true, mkdir: true, sync: true });
}

/** A logger that drops everything, for library use where the caller gave none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
