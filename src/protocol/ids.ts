/** Ids on the wire: task and delivery ids are UUID4; `reply_to` is a UUID3 "oid" per producer (kombu/common.py:39). */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

export function uuid(): string {
  return randomUUID();
}

const NAMESPACE_OID = Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex');

/** RFC 4122 version 3 (MD5) UUID of `name` in the OID namespace, as Python's `uuid3(NAMESPACE_OID, name)`. */
export function uuid3Oid(name: string): string {
  const hash = createHash('md5').update(NAMESPACE_OID).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x30;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

let instanceCounter = 0;

/** A new oid for one app instance in this process: stable for the instance, distinct across processes. */
export function generateOid(): string {
  instanceCounter += 1;
  const ent = `${hostname()}-${process.pid.toString(16)}-0-${instanceCounter.toString(16)}-${Date.now().toString(16)}`;
  return uuid3Oid(ent);
}

/** `gen<pid>@<host>`: the origin of messages sent by a process that is not a worker. */
export function anonNodename(): string {
  return `gen${process.pid}@${hostname()}`;
}
