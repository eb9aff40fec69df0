// Who may talk to the server, as ollama decides it. A local server with no API key must not be driven by
// whatever web page the user has open:
// * Origin: browsers send it on cross-site requests. Pages served from loopback (http(s)://localhost,
//   127.0.0.1, [::1], any port) are accepted; others only when `--cors-origins` lists them (`*`: any). A
//   request from another origin is refused (403) before it runs, not only hidden from the page by CORS:
//   a "simple" POST would otherwise still be executed.
// * Host: a DNS-rebinding page reaches 127.0.0.1 under its own name, so a server bound to a loopback address
//   accepts only Host names it knows: localhost (and *.localhost), IP literals, the bound host and the
//   `--allowed-hosts` list (`*`: any). Bound to a non-loopback address (0.0.0.0, a LAN address) it is meant
//   to be reached under names we cannot know, so any Host is accepted there and the Origin policy remains.
import { isIP } from 'node:net';

const LOOPBACK_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;

export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Origin -> whether a browser page from it may call the server. */
export function originPolicy(corsOrigins: readonly string[] = []): (origin: string) => boolean {
  const any = corsOrigins.includes('*');
  const listed = new Set(corsOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (origin) => any || LOOPBACK_ORIGIN.test(origin) || listed.has(origin.toLowerCase());
}

/** Host header -> whether the request may have come under that name; undefined: every Host is accepted. */
export function hostPolicy(boundHost: string | undefined, allowedHosts: readonly string[] = []): ((host: string) => boolean) | undefined {
  if (allowedHosts.includes('*')) return undefined;
  if (boundHost !== undefined && !isLoopbackAddress(boundHost)) return undefined;
  const names = new Set(['localhost', ...allowedHosts, ...(boundHost ? [boundHost] : [])].map((h) => h.replace(/^\[|\]$/g, '').toLowerCase()));
  return (hostHeader) => {
    const host = hostName(hostHeader);
    if (host === undefined) return false;
    return names.has(host) || host.endsWith('.localhost') || isIP(host) !== 0;
  };
}

/** The name in a Host header, without port and brackets, lower case; undefined if malformed. */
function hostName(header: string): string | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/i.exec(header.trim());
  return m ? m[1]!.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '') : undefined;
}
