/* cams-server API Explorer.
 *
 * Builds the form of the chosen operation from the catalog embedded in the page,
 * signs the call here with ACS3-HMAC-SHA256 (the canonical request of
 * gateway/signing.py, byte for byte) and sends it to / like any SDK: the secret
 * never leaves the page. Web Crypto does the hashing where the page is a secure
 * context (https, localhost, 127.0.0.1); elsewhere a small SHA-256 below does.
 *
 * The signing functions are plain functions, exported under Node for the tests.
 */
'use strict';

(function (root) {
  // -- encoding -----------------------------------------------------------------------

  const ALGORITHM = 'ACS3-HMAC-SHA256';

  /** RFC 3986: everything but A-Z a-z 0-9 - _ . ~ as %XX of its UTF-8 bytes. */
  function percentEncode(value) {
    return encodeURIComponent(String(value)).replace(
      /[!'()*]/g,
      (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
    );
  }

  /** `k=v` pairs sorted by key (stably, as Python's sorted), percent-encoded, joined by &. */
  function canonicalQuery(pairs) {
    return pairs
      .map((pair, index) => [pair[0], pair[1], index])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2]))
      .map((p) => percentEncode(p[0]) + '=' + percentEncode(p[1]))
      .join('&');
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function hex(bytes) {
    let out = '';
    for (const b of bytes) {
      out += b.toString(16).padStart(2, '0');
    }
    return out;
  }

  // -- SHA-256 and HMAC without Web Crypto (FIPS 180-4, RFC 2104) ----------------------

  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);

  function sha256Bytes(data) {
    const length = data.length;
    const blocks = Math.ceil((length + 9) / 64);
    const padded = new Uint8Array(blocks * 64);
    padded.set(data);
    padded[length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(padded.length - 4, (length * 8) >>> 0);
    const h = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
      0x5be0cd19,
    ]);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let block = 0; block < blocks; block++) {
      for (let t = 0; t < 16; t++) {
        w[t] = view.getUint32(block * 64 + t * 4);
      }
      for (let t = 16; t < 64; t++) {
        const s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
        const s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let t = 0; t < 64; t++) {
        const t1 =
          (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) >>>
          0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) >>> 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) >>> 0;
      }
      h[0] += a;
      h[1] += b;
      h[2] += c;
      h[3] += d;
      h[4] += e;
      h[5] += f;
      h[6] += g;
      h[7] += hh;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) {
      outView.setUint32(i * 4, h[i]);
    }
    return out;
  }

  function hmacSha256Bytes(key, message) {
    const block = new Uint8Array(64);
    block.set(key.length > 64 ? sha256Bytes(key) : key);
    const inner = new Uint8Array(64 + message.length);
    const outer = new Uint8Array(64 + 32);
    for (let i = 0; i < 64; i++) {
      inner[i] = block[i] ^ 0x36;
      outer[i] = block[i] ^ 0x5c;
    }
    inner.set(message, 64);
    outer.set(sha256Bytes(inner), 64);
    return sha256Bytes(outer);
  }

  function webCrypto() {
    const c = root.crypto;
    return c && c.subtle ? c.subtle : null;
  }

  async function sha256Hex(text, options) {
    const subtle = options && options.noWebCrypto ? null : webCrypto();
    if (subtle) {
      return hex(new Uint8Array(await subtle.digest('SHA-256', utf8(text))));
    }
    return hex(sha256Bytes(utf8(text)));
  }

  async function hmacSha256Hex(secret, text, options) {
    const subtle = options && options.noWebCrypto ? null : webCrypto();
    if (subtle && secret.length > 0) {
      const key = await subtle.importKey(
        'raw',
        utf8(secret),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign'],
      );
      return hex(new Uint8Array(await subtle.sign('HMAC', key, utf8(text))));
    }
    return hex(hmacSha256Bytes(utf8(secret), utf8(text)));
  }

  // -- signature V3 -------------------------------------------------------------------

  function isoSeconds(date) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function randomNonce() {
    const bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    return hex(bytes);
  }

  /**
   * Sign one RPC call to `/` with an empty body. `params` is a list of [name, value].
   * Returns the path with its query, the headers to send (all but host, which the
   * browser sets), and the canonical request and string to sign for display.
   */
  async function signRequest(o) {
    const payloadHash = await sha256Hex('', o);
    const headers = {
      host: o.host,
      'x-acs-action': o.action,
      'x-acs-content-sha256': payloadHash,
      'x-acs-date': o.date || isoSeconds(new Date()),
      'x-acs-signature-nonce': o.nonce || randomNonce(),
      'x-acs-version': o.version,
    };
    if (o.securityToken) {
      headers['x-acs-security-token'] = o.securityToken;
    }
    const names = Object.keys(headers).sort();
    const query = canonicalQuery(o.params || []);
    const canonicalHeaders = names.map((n) => n + ':' + String(headers[n]).trim() + '\n').join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = [
      o.method,
      '/',
      query,
      canonicalHeaders,
      signedHeaders,
      payloadHash,
    ].join('\n');
    const stringToSign = ALGORITHM + '\n' + (await sha256Hex(canonicalRequest, o));
    const signature = await hmacSha256Hex(o.accessKeySecret, stringToSign, o);
    const authorization =
      ALGORITHM +
      ' Credential=' +
      o.accessKeyId +
      ',SignedHeaders=' +
      signedHeaders +
      ',Signature=' +
      signature;
    const send = {};
    for (const n of names) {
      if (n !== 'host') {
        send[n] = headers[n];
      }
    }
    send.authorization = authorization;
    return {
      path: '/' + (query ? '?' + query : ''),
      headers: send,
      host: o.host,
      canonicalRequest,
      stringToSign,
      signature,
      authorization,
      date: headers['x-acs-date'],
    };
  }

  // -- validation (the rules of ParameterSpec.parse) -----------------------------------

  const INT32 = [-(2n ** 31n), 2n ** 31n - 1n];
  const INT64 = [-(2n ** 63n), 2n ** 63n - 1n];
  const MAX_STRING = 4096;

  /** The problem with one value, or null. An empty value is only checked for `required`. */
  function validateValue(spec, raw) {
    if (raw === '') {
      return spec.required ? spec.name + ' is required.' : null;
    }
    if (spec.type === 'integer') {
      if (!/^-?[0-9]{1,20}$/.test(raw)) {
        return spec.name + ' must be an integer.';
      }
      const [low, high] = spec.format === 'int64' ? INT64 : INT32;
      const value = BigInt(raw);
      return value < low || value > high ? spec.name + ' is out of range.' : null;
    }
    if (spec.type === 'boolean') {
      return /^(true|false)$/i.test(raw) ? null : spec.name + ' must be true or false.';
    }
    const limit = spec.maxLength || MAX_STRING;
    if (raw.length > limit) {
      return spec.name + ' is at most ' + limit + ' characters long.';
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(raw)) {
      return spec.name + ' contains control characters.';
    }
    if (spec.enum && !spec.enum.includes(raw)) {
      return spec.name + ' must be one of ' + spec.enum.join(', ') + '.';
    }
    if (spec.pattern) {
      try {
        if (!new RegExp('^(?:' + spec.pattern + ')$', 'u').test(raw)) {
          return spec.name + ' must match ' + spec.pattern + '.';
        }
      } catch (e) {
        return null; // a pattern JavaScript cannot read: the server checks it
      }
    }
    return null;
  }

  // -- what an error means -------------------------------------------------------------

  function wildcard(pattern, value) {
    const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp('^' + re + '$', 'i').test(value);
  }

  /** System policies with an Allow statement whose Action covers `action`. */
  function allowingSystemPolicies(systemPolicies, action) {
    const names = [];
    for (const [name, doc] of Object.entries(systemPolicies || {})) {
      for (const st of doc.Statement || []) {
        const actions = [].concat(st.Action || []);
        if (st.Effect === 'Allow' && actions.some((a) => wildcard(a, action))) {
          names.push(name);
          break;
        }
      }
    }
    return names;
  }

  /** "1 h 5 min", "42 s": whole minutes past two minutes (both clocks tick in seconds). */
  function duration(seconds) {
    let s = Math.abs(Math.round(seconds));
    if (s >= 120) {
      s = Math.round(s / 60) * 60;
    }
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const parts = [];
    if (h) parts.push(h + ' h');
    if (m) parts.push(m + ' min');
    if (!h && !m) parts.push(s + ' s');
    else if (s % 60) parts.push((s % 60) + ' s');
    return parts.join(' ');
  }

  /**
   * Advice for an error answer: a list of {text} paragraphs and {code} blocks.
   * `ctx`: {body, status, headers (lower-case map), signed (signRequest result),
   *         op (catalog entry), systemPolicies, now (ms)}.
   */
  function explain(ctx) {
    const body = ctx.body || {};
    const code = String(body.Code || '');
    const message = String(body.Message || '');
    const out = [];
    const say = (text) => out.push({ text });
    const show = (text) => out.push({ code: text });
    const detail = body.AccessDeniedDetail;

    if ((code === 'Ram.PermissionDeny' || code === 'NoPermission') && detail && typeof detail === 'object') {
      const who =
        (detail.AuthPrincipalType === 'AssumedRoleUser' ? 'role session ' : 'RAM user ') +
        (detail.AuthPrincipalDisplayName || '?') +
        ' of account ' +
        (detail.AuthPrincipalOwnerId || '?');
      const action = detail.AuthAction || (ctx.op && ctx.op.ramAction) || '';
      if (detail.PolicyType === 'IsvAuthorization') {
        say(
          'RAM allows ' + who + ' to call ' + action + ', but the ISV check failed: a RAM ' +
            'principal acting on an ISV sub-customer space must send an IsvCode issued to it ' +
            'that covers that space, and a given IsvCode must be live and issued to the caller.',
        );
        say('The server says: ' + message);
      } else if (detail.NoPermissionType === 'ExplicitDeny') {
        say(
          'A policy attached to ' + who + ' explicitly denies ' + action + '. An explicit Deny ' +
            'wins over every Allow: remove or narrow that Deny statement.',
        );
        say(
          'The operator can see which policy matched by decoding EncodedDiagnosticMessage ' +
            '(cams-server ram decode-diagnostic, or POST /_cams/ram/decode-diagnostic).',
        );
      } else {
        say(
          'No policy of ' + who + ' (its own, its groups\' or its role\'s) allows ' + action +
            ' (ImplicitDeny). Grant it, for example with this custom policy:',
        );
        show(
          JSON.stringify(
            { Version: '1', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] },
            null,
            2,
          ),
        );
        const systems = allowingSystemPolicies(ctx.systemPolicies, action);
        if (systems.length) {
          say('or attach a system policy that allows it: ' + systems.join(', ') + '.');
        }
        if (action && ctx.op && action.toLowerCase() === ctx.op.ramAction.toLowerCase()) {
          const reading = allowingSystemPolicies(
            { AliyunCAMSReadOnlyAccess: (ctx.systemPolicies || {}).AliyunCAMSReadOnlyAccess },
            action,
          );
          if (ctx.op.product === 'cams' && !reading.length) {
            say('AliyunCAMSReadOnlyAccess is not enough: it covers the read verbs only.');
          }
        }
        if (action.toLowerCase().startsWith('cams:')) {
          say('The account\'s own (root) AccessKey is always allowed.');
        }
      }
      return out;
    }
    switch (code) {
      case 'InvalidTimeStamp.Expired': {
        // The server's time: from its message ("... the server time 2026-01-02T03:04:05Z"),
        // else from a Date header.
        const stated = /server time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/.exec(message);
        let serverDate = stated ? Date.parse(stated[1]) : NaN;
        if (isNaN(serverDate) && ctx.headers && ctx.headers.date) {
          serverDate = Date.parse(ctx.headers.date);
        }
        const sent = ctx.signed ? Date.parse(ctx.signed.date) : NaN;
        if (!isNaN(serverDate) && !isNaN(sent)) {
          const skew = (sent - serverDate) / 1000;
          say(
            'This computer\'s clock is about ' + duration(skew) + (skew > 0 ? ' ahead of' : ' behind') +
              ' the server\'s (x-acs-date ' + ctx.signed.date + ', server time ' +
              new Date(serverDate).toISOString().replace(/\.\d{3}Z$/, 'Z') + ').',
          );
        }
        say(
          'A signature is accepted within 15 minutes of the server\'s time either way. Set this ' +
            'computer\'s clock right (turn on automatic time / NTP) and call again.',
        );
        break;
      }
      case 'SignatureDoesNotMatch': {
        const marker = 'server string to sign is:';
        const at = message.indexOf(marker);
        const server = at >= 0 ? message.slice(at + marker.length) : null;
        if (server !== null && ctx.signed && server === ctx.signed.stringToSign) {
          say(
            'The server computed the same string to sign as this page, so the request arrived ' +
              'intact: the AccessKey secret is wrong. Check it for typos or stray spaces, and ' +
              'that it belongs to this AccessKey ID.',
          );
        } else {
          say(
            'The server\'s string to sign differs from this page\'s: the request changed on its ' +
              'way (a proxy rewriting the Host header or the query?). Both are shown below.',
          );
          if (server !== null) show('server:\n' + server);
          if (ctx.signed) show('this page:\n' + ctx.signed.stringToSign);
        }
        break;
      }
      case 'InvalidAccessKeyId.NotFound':
        say(
          'No such AccessKey exists on this server. Check the ID for typos or stray characters; ' +
            'keys come from the world file (cams-server world apply) or the demo world.',
        );
        break;
      case 'InvalidAccessKeyId.Inactive':
        say('This AccessKey is disabled (status Inactive): activate it or use another one.');
        break;
      case 'SignatureNonceUsed':
        say('The nonce was seen in the last 15 minutes. This page makes a new one per call: call again.');
        break;
      case 'System.LimitControl':
      case 'Throttling.User': {
        const wait = ctx.headers && ctx.headers['x-acs-retry-after'];
        say(
          'Flow control: ' + (ctx.op ? ctx.op.name + ' admits ' + ctx.op.rateLimit : 'too many calls') +
            '.' + (wait ? ' Retry after ' + wait + ' ms (header x-acs-retry-after; the SDKs wait that long).' : ''),
        );
        break;
      }
      case 'Product.Unsubscript':
        say('The caller\'s account has not opened Chat App Message Service (cams = false in the world file).');
        break;
      case 'Unknown.ResourceOwnerId':
        say('CustSpaceId (and OwnerId / ResourceOwnerId) must name the calling account\'s own space and account.');
        break;
      case 'InvalidProtocol.NeedSsl':
        say(
          'This operation is served over HTTPS only, and this page was loaded over ' +
            (root.location ? root.location.protocol.replace(':', '') : 'http') +
            ': start the server with TLS (serve --tls ...) and open the Explorer over https.',
        );
        break;
      case 'IncompleteSignature':
        say('The signature headers are malformed or incomplete: ' + message);
        break;
      default:
        if (/^Missing/.test(code)) {
          say('Fill in the required parameter ' + code.slice('Missing'.length) + '.');
        } else if (/^InvalidSecurityToken/.test(code)) {
          say('The STS security token is expired, malformed or not issued for this AccessKey ID: assume the role again.');
        } else if (/^Invalid/.test(code)) {
          say('A value was refused: ' + message);
        } else if (message) {
          say(message);
        }
    }
    return out;
  }

  const api = {
    percentEncode,
    canonicalQuery,
    sha256Hex,
    hmacSha256Hex,
    sha256Bytes,
    hmacSha256Bytes,
    signRequest,
    validateValue,
    explain,
    allowingSystemPolicies,
  };
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  }
  if (typeof document === 'undefined') {
    return;
  }

  // -- the page -----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($('explorer-data').textContent);
  const operations = new Map(data.operations.map((op) => [op.name, op]));
  let current = null;
  let samples = [];
  let sampleLanguage = 'python';
  let sampleTimer = null;
  let sampleSeq = 0;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : v);
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function describeOperation(op) {
    const info = $('operation-info');
    info.replaceChildren();
    info.append(el('p', {}, op.summary || ''));
    const meta = el('p', {});
    meta.append(
      document.createTextNode(
        op.productTitle + ' · ' + op.product + ' ' + op.version + ' · RAM ' + op.ramAction +
          ' (' + op.accessLevel + ') · ' + op.rateLimit + ' · ',
      ),
    );
    meta.append(el('a', { href: '/docs/' + encodeURIComponent(op.name) }, 'Reference'));
    info.append(meta);
    const scheme = root.location.protocol.replace(':', '').toUpperCase();
    if (!op.schemes.map((s) => s.toUpperCase()).includes(scheme)) {
      info.append(
        el('p', { class: 'warn' }, op.name + ' is served over ' + op.schemes.join('/') +
          ' only; this page uses ' + scheme + '.'),
      );
    }
  }

  function buildForm(op) {
    const box = $('parameters');
    box.replaceChildren();
    if (!op.parameters.length) {
      box.append(el('p', { class: 'hint' }, 'This operation takes no parameters.'));
    }
    for (const spec of op.parameters) {
      const id = 'param-' + spec.name;
      const label = el('label', { for: id });
      label.append(document.createTextNode(spec.name + ' '));
      label.append(el('span', { class: 'type' }, spec.type + (spec.format ? '<' + spec.format + '>' : '')));
      if (spec.required) {
        label.append(el('span', { class: 'required' }, ' *'));
      }
      box.append(label);
      let input;
      if (spec.enum || spec.type === 'boolean') {
        input = el('select', { id, name: spec.name, 'data-param': spec.name });
        input.append(el('option', { value: '' }, spec.required ? 'Choose…' : '(not sent)'));
        for (const v of spec.enum || ['true', 'false']) {
          input.append(el('option', { value: v }, v));
        }
      } else {
        input = el('input', {
          id,
          name: spec.name,
          'data-param': spec.name,
          autocomplete: 'off',
          spellcheck: 'false',
          inputmode: spec.type === 'integer' ? 'numeric' : null,
          placeholder: exampleOf(spec),
          required: spec.required,
          maxlength: spec.maxLength || null,
        });
      }
      input.addEventListener('input', () => {
        checkField(spec, input);
        scheduleSamples();
      });
      box.append(input);
      if (spec.unit === 'epoch-milliseconds') {
        box.append(datePicker(spec, input));
      }
      if (spec.description) {
        box.append(el('p', { class: 'field-hint' }, spec.description.replace(/\*\*/g, '')));
      }
      box.append(el('p', { class: 'field-error', id: id + '-error', hidden: true }));
    }
    const method = $('method');
    method.replaceChildren(...op.methods.map((m) => el('option', { value: m }, m)));
  }

  // The hint in an empty field: the demo world's own space where the Explorer offers its
  // keys (the metadata's example space exists nowhere here), else the metadata's example.
  function exampleOf(spec) {
    if (spec.name === 'CustSpaceId' && data.demoSpaces && data.demoSpaces.length) {
      return 'e.g. ' + data.demoSpaces[0] + ' (the demo space)';
    }
    return spec.example ? 'e.g. ' + spec.example : '';
  }

  // Epoch milliseconds are entered with a date and time picker (in the browser's time
  // zone); the number field stays the value sent, and says its time in UTC.
  function datePicker(spec, input) {
    const id = 'param-' + spec.name + '-date';
    const row = el('div', { class: 'date-pick' });
    const picker = el('input', {
      id,
      type: 'datetime-local',
      step: '1',
      'aria-label': spec.name + ' as a date and time (your time zone)',
    });
    const utc = el('span', { class: 'hint', id: id + '-utc' });
    const showUtc = () => {
      const ms = Number(input.value);
      utc.textContent = input.value !== '' && Number.isFinite(ms) && Math.abs(ms) < 8.64e15
        ? new Date(ms).toISOString().replace('.000Z', 'Z') + ' (UTC)'
        : '';
    };
    picker.addEventListener('input', () => {
      const ms = new Date(picker.value).getTime();
      if (!Number.isFinite(ms)) return;
      input.value = String(ms);
      showUtc();
      checkField(spec, input);
      scheduleSamples();
    });
    input.addEventListener('input', showUtc);
    row.append(el('label', { for: id }, 'or pick:'), picker, utc);
    return row;
  }

  function clearResult() {
    $('placeholder').hidden = false;
    $('outcome').hidden = true;
    $('error').hidden = true;
    for (const id of ['response-body', 'request-sent', 'canonical-request', 'string-to-sign']) {
      $(id).textContent = '';
    }
    formError('');
  }

  function checkField(spec, input) {
    const problem = validateValue(spec, input.value);
    const error = $('param-' + spec.name + '-error');
    input.classList.toggle('invalid', !!problem);
    error.textContent = problem || '';
    error.hidden = !problem;
    return problem;
  }

  function paramValues() {
    const values = [];
    for (const spec of current.parameters) {
      const value = $('param-' + spec.name).value;
      if (value !== '') values.push([spec.name, value]);
    }
    return values;
  }

  function selectOperation(name, push) {
    const changed = !current || current.name !== name;
    current = operations.get(name) || data.operations[0];
    $('operation').value = current.name;
    describeOperation(current);
    buildForm(current);
    if (changed) clearResult(); // the last result was another operation's
    if (push) {
      const url = new URL(root.location.href);
      url.searchParams.set('Action', current.name);
      root.history.replaceState(null, '', url);
    }
    scheduleSamples(0);
  }

  // -- samples ------------------------------------------------------------------------

  function scheduleSamples(delay) {
    clearTimeout(sampleTimer);
    sampleTimer = setTimeout(loadSamples, delay === undefined ? 250 : delay);
  }

  async function loadSamples() {
    const seq = ++sampleSeq;
    const query = new URLSearchParams([['Action', current.name], ...paramValues()]);
    const errorBox = $('sample-error');
    try {
      const res = await fetch('/explorer/samples?' + query.toString(), { cache: 'no-store' });
      const body = await res.json();
      if (seq !== sampleSeq) return;
      if (!res.ok) {
        errorBox.textContent = 'No samples for these values: ' + (body.Message || res.status);
        errorBox.hidden = false;
        return;
      }
      errorBox.hidden = true;
      samples = body.Samples;
      renderSamples();
    } catch (e) {
      errorBox.textContent = 'Could not load the samples: ' + e;
      errorBox.hidden = false;
    }
  }

  function renderSamples() {
    const tabs = $('sample-tabs');
    tabs.replaceChildren();
    if (!samples.some((s) => s.Language === sampleLanguage)) sampleLanguage = samples[0].Language;
    for (const sample of samples) {
      const tab = el('button', {
        type: 'button',
        role: 'tab',
        'data-language': sample.Language,
        'aria-selected': String(sample.Language === sampleLanguage),
      }, sample.Label);
      tab.addEventListener('click', () => {
        sampleLanguage = sample.Language;
        renderSamples();
      });
      tabs.append(tab);
    }
    const sample = samples.find((s) => s.Language === sampleLanguage);
    const code = $('sample-code');
    code.textContent = sample.Code;
    code.setAttribute('data-language', sample.Language);
  }

  async function copySample() {
    const text = $('sample-code').textContent;
    const button = $('copy-sample');
    try {
      if (navigator.clipboard && root.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        const area = el('textarea');
        area.value = text;
        document.body.append(area);
        area.select();
        document.execCommand('copy');
        area.remove();
      }
      button.textContent = 'Copied';
    } catch (e) {
      button.textContent = 'Copy failed';
    }
    setTimeout(() => {
      button.textContent = 'Copy';
    }, 1500);
  }

  // -- the call -----------------------------------------------------------------------

  function formError(text) {
    const box = $('form-error');
    box.textContent = text || '';
    box.hidden = !text;
  }

  function showRequest(signed, method) {
    const lines = [method + ' ' + signed.path + ' HTTP/1.1', 'host: ' + signed.host];
    for (const [name, value] of Object.entries(signed.headers)) {
      lines.push(name + ': ' + value);
    }
    $('request-sent').textContent = lines.join('\n');
    $('canonical-request').textContent = signed.canonicalRequest;
    $('string-to-sign').textContent = signed.stringToSign;
  }

  function showOutcome(res, body, elapsed, signed) {
    $('placeholder').hidden = true;
    $('outcome').hidden = false;
    const status = $('status');
    status.textContent = res.status + ' ' + (res.statusText || '');
    status.className = res.ok ? 'ok' : 'bad';
    const code = body && typeof body === 'object' ? body.Code || (res.ok ? '(no Code field)' : '') : '';
    $('result-code').textContent = code;
    $('result-code').className = res.ok ? 'ok' : 'bad';
    $('request-id').textContent =
      (body && body.RequestId) || res.headers.get('x-acs-request-id') || '';
    $('elapsed').textContent = Math.round(elapsed) + ' ms';
    const errorBox = $('error');
    if (res.ok) {
      errorBox.hidden = true;
      return;
    }
    errorBox.hidden = false;
    $('error-code').textContent = (body && body.Code) || 'HTTP ' + res.status;
    $('error-message').textContent = (body && body.Message) || '';
    const headers = {};
    res.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    const advice = $('advice');
    advice.replaceChildren();
    for (const item of explain({
      body,
      status: res.status,
      headers,
      signed,
      op: current,
      systemPolicies: data.systemPolicies,
    })) {
      advice.append(item.code !== undefined ? el('pre', {}, item.code) : el('p', {}, item.text));
    }
  }

  async function call() {
    const button = $('call');
    formError('');
    let invalid = null;
    for (const spec of current.parameters) {
      const problem = checkField(spec, $('param-' + spec.name));
      invalid = invalid || problem;
    }
    const rawId = $('access-key-id').value;
    const rawSecret = $('access-key-secret').value;
    const accessKeyId = rawId.trim();
    const accessKeySecret = rawSecret.trim();
    if (!accessKeyId || !accessKeySecret) {
      invalid = invalid || 'Enter an AccessKey ID and secret' + (data.demoKeys.length ? ', or pick a demo key.' : '.');
    }
    if (invalid) {
      formError(invalid);
      return;
    }
    const notes = [];
    if (rawId !== accessKeyId || rawSecret !== accessKeySecret) {
      notes.push('Spaces around the AccessKey were removed before signing.');
    }
    const method = $('method').value || current.methods[0];
    button.disabled = true;
    try {
      const signed = await signRequest({
        method,
        host: root.location.host,
        action: current.name,
        version: current.version,
        params: paramValues(),
        accessKeyId,
        accessKeySecret,
        securityToken: $('security-token').value.trim(),
      });
      showRequest(signed, method);
      const started = performance.now();
      const res = await fetch(signed.path, {
        method,
        headers: signed.headers,
        cache: 'no-store',
        credentials: 'omit',
      });
      const text = await res.text();
      const elapsed = performance.now() - started;
      let body = null;
      try {
        body = JSON.parse(text);
        $('response-body').textContent = JSON.stringify(body, null, 2);
      } catch (e) {
        $('response-body').textContent = text;
      }
      showOutcome(res, body, elapsed, signed);
      formError(notes.join(' '));
    } catch (e) {
      formError('The call failed before an answer arrived: ' + e);
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    $('operation').addEventListener('change', (e) => selectOperation(e.target.value, true));
    $('call-form').addEventListener('submit', (e) => {
      e.preventDefault();
      call();
    });
    $('copy-sample').addEventListener('click', copySample);
    const demo = $('demo-key');
    if (demo) {
      demo.addEventListener('change', () => {
        const key = data.demoKeys[Number(demo.value)];
        if (key) {
          $('access-key-id').value = key.accessKeyId;
          $('access-key-secret').value = key.accessKeySecret;
          $('security-token').value = '';
        }
      });
    }
    const wanted = new URL(root.location.href).searchParams.get('Action');
    selectOperation(wanted && operations.has(wanted) ? wanted : $('operation').value, false);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})(typeof window !== 'undefined' ? window : globalThis);
