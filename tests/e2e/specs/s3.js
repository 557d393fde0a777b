import { createHash, createHmac } from 'node:crypto';
import { env } from './helpers.js';

/**
 * The test's own way into the harness's S3 server (path-style, AWS Signature V4), to seed a
 * media bucket and check what the app left in it. Signed by hand so the e2e suite needs no S3
 * SDK; the app itself goes through object_store.
 */
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
const encode = (text) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export async function s3(method, key, { body = '', query = {}, headers = {} } = {}) {
  const endpoint = new URL(env('LIFEBOAT_TEST_S3_ENDPOINT'));
  const region = env('LIFEBOAT_TEST_S3_REGION');
  const path = `/${env('LIFEBOAT_TEST_S3_BUCKET')}${key ? `/${key.split('/').map(encode).join('/')}` : ''}`;
  const search = Object.keys(query).sort().map((k) => `${encode(k)}=${encode(query[k])}`).join('&');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const day = stamp.slice(0, 8);
  const payload = sha256(body);
  const all = { ...headers, host: endpoint.host, 'x-amz-content-sha256': payload, 'x-amz-date': stamp };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([n, v]) => [n.toLowerCase(), String(v).trim()]));
  const canonical = [method, path, search, ...names.map((n) => `${n}:${lower[n]}`), '', names.join(';'), payload].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256(canonical)].join('\n');
  let signingKey = `AWS4${env('LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY')}`;
  for (const part of [day, region, 's3', 'aws4_request']) signingKey = hmac(signingKey, part);
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  const authorization = `AWS4-HMAC-SHA256 Credential=${env('LIFEBOAT_TEST_S3_ACCESS_KEY_ID')}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  const response = await fetch(`${endpoint.origin}${path}${search ? `?${search}` : ''}`, {
    method,
    headers: { ...lower, authorization },
    body: method === 'GET' || method === 'HEAD' ? undefined : body,
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

export const putObject = (key, body, contentType) =>
  s3('PUT', key, { body, headers: contentType ? { 'content-type': contentType } : {} });

export const deleteObject = (key) => s3('DELETE', key);

/** Every object under `prefix`: its key below the prefix → content and content type. */
export async function objectsUnder(prefix) {
  const listing = await (await s3('GET', '', { query: { 'list-type': '2', prefix: `${prefix}/` } })).text();
  const keys = [...listing.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1].replace(/&amp;/g, '&').replace(/&apos;/g, "'"));
  const found = {};
  for (const key of keys.sort()) {
    const response = await s3('GET', key);
    found[key.slice(prefix.length + 1)] = { body: await response.text(), contentType: response.headers.get('content-type') };
  }
  return found;
}
