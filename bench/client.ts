import http from 'node:http';

export type Reply = { status: number; body: any; ms: number };

/** A keep-alive JSON client on node:http: cheap enough that it is not what a bench measures. */
export function jsonClient(baseUrl: string, maxSockets: number) {
  const base = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          method,
          path,
          agent,
          headers: {
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - started;
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, ms });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
  return {
    post: (path: string, body: unknown, headers?: Record<string, string>) => send('POST', path, body, headers),
    get: (path: string, headers?: Record<string, string>) => send('GET', path, undefined, headers),
    close: () => agent.destroy(),
  };
}

export type JsonClient = ReturnType<typeof jsonClient>;

export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Refresh rotation under load: `workers` clients, each holding one session, each spending its
 * refresh token and sending the successor next, back to back, for `seconds`.
 */
export async function refreshLoop(
  client: JsonClient,
  sessions: Array<{ refresh_token: string; access_token: string }>,
  seconds: number,
  relogin: (i: number) => Promise<{ refresh_token: string; access_token: string }>,
) {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    sessions.map(async (session, i) => {
      while (performance.now() < end) {
        const reply = await client.post('/v1/token', { grant_type: 'refresh_token', refresh_token: session.refresh_token });
        if (reply.status === 200) {
          latencies.push(reply.ms);
          session.refresh_token = reply.body.refresh_token;
          session.access_token = reply.body.access_token;
        } else {
          const key = `${reply.status} ${reply.body?.code ?? ''}`.trim();
          failures[key] = (failures[key] ?? 0) + 1;
          Object.assign(session, await relogin(i));
        }
      }
    }),
  );
  return summarize(latencies, failures, started);
}

/** A closed-loop run's result: successes per second since `started`, latency percentiles, failures by kind. */
export function summarize(latencies: number[], failures: Record<string, number>, started: number) {
  const elapsed = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    perSecond: latencies.length / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    failures,
  };
}
