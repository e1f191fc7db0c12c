/**
 * What to do about a TLS failure, for connection errors: Node reports certificate problems as OpenSSL codes
 * (`SELF_SIGNED_CERT_IN_CHAIN`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...), which say what failed but not which
 * setting fixes it.
 */

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** A sentence naming the fix for a TLS error, or '' for other errors. */
export function tlsHint(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return '';
  if (UNTRUSTED.has(code)) {
    return (
      ` (TLS: the server's certificate is not signed by a CA this client trusts; give that CA with ssl_ca_certs ` +
      'in the URL or ca in brokerUseSsl / redisBackendUseSsl, or turn verification off with ssl_cert_reqs=none, ' +
      'which is not safe outside tests)'
    );
  }
  if (code === 'CERT_HAS_EXPIRED') return " (TLS: the server's certificate has expired)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return " (TLS: the server's certificate is not for this host name; connect by a name it lists, or set servername)";
  }
  return '';
}
