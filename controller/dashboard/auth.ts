/**
 * The dashboard's token: random, written into the client connection file, and
 * required on every request, as `?token=` (the link `tscluster dashboard`
 * prints), then as an HttpOnly cookie the first such visit sets, or as
 * `Authorization: Bearer <token>` (a scraper of /metrics).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A fresh token: 24 random bytes, URL-safe. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** How a request proved it holds the token, or 'none'. */
export type Proof = 'query' | 'cookie' | 'header' | 'none';

export class TokenCheck {
  readonly #token: Buffer;
  /** the cookie's name: browsers share cookies between ports of one host, so each dashboard has its own */
  readonly cookieName: string;

  constructor(token: string, port: number) {
    this.#token = Buffer.from(token);
    this.cookieName = `tscluster_dashboard_${port}`;
  }

  #equals(given: string | undefined | null): boolean {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === this.#token.length && timingSafeEqual(b, this.#token);
  }

  /** How the request carries the token (the query first: a new token replaces an old cookie). */
  check(req: IncomingMessage, url: URL): Proof {
    if (this.#equals(url.searchParams.get('token'))) return 'query';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && this.#equals(auth.slice('Bearer '.length).trim())) return 'header';
    if (this.#equals(cookie(req.headers.cookie, this.cookieName))) return 'cookie';
    return 'none';
  }

  /** The Set-Cookie header that lets a browser come back without the token in its address bar. */
  setCookie(): string {
    return `${this.cookieName}=${this.#token.toString()}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

/** One cookie's value from a Cookie header. */
function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
