// The browsable API reference: fetches each function's /openapi.json (the
// list comes from functions.json beside this file) and lists its routes.
// Everything is built with DOM calls and textContent: nothing from a
// document is ever parsed as HTML.
'use strict';

(function () {
  const AUTH_NAMES = {
    adminBearer: 'admin bearer token',
    wxOpenID: 'X-WX-OPENID (Cloud Hosting)',
    wxSource: null, // shown with wxOpenID
    jobBearer: 'job token',
    checkoutLink: 'signed checkout link',
    wechatpaySignature: 'WeChat Pay API v3 signature',
  };
  const VERIFICATION_NAMES = { cloudHostingHint: 'Cloud Hosting hint (unsigned)', alipayRSA2: 'Alipay RSA2 form signature' };
  const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(typeof kid === 'string' ? document.createTextNode(kid) : kid);
    }
    return e;
  }

  function refName(s) {
    return s && typeof s.$ref === 'string' ? s.$ref.replace('#/components/schemas/', '') : null;
  }

  function resolve(doc, s) {
    const name = refName(s);
    return name ? (doc.components.schemas[name] || {}) : (s || {});
  }

  // typeLabel names a schema in a few words.
  function typeLabel(doc, s) {
    if (!s) return 'any';
    const name = refName(s);
    if (name) return name;
    if (s.allOf) {
      const codes = errorCodes(s);
      const base = s.allOf.map((x) => refName(x)).filter(Boolean).join(' & ');
      return codes ? base + ' (code: ' + codes.join(', ') + ')' : base || 'all of';
    }
    if (s.oneOf) return 'one of: ' + s.oneOf.map((x) => typeLabel(doc, x)).join(' | ');
    if (s.anyOf) return s.anyOf.map((x) => typeLabel(doc, x)).join(' | ');
    let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || (s.const !== undefined ? typeof s.const : 'any'));
    if ((s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array'))) && s.items) {
      t = t.replace('array', 'array of ' + typeLabel(doc, s.items));
    }
    if (s.format) t += ' (' + s.format + ')';
    return t;
  }

  function errorCodes(s) {
    for (const part of s.allOf || []) {
      const code = part.properties && part.properties.error && part.properties.error.properties && part.properties.error.properties.code;
      if (code && code.enum) return code.enum;
    }
    return null;
  }

  function constraints(s) {
    const out = [];
    if (s.enum) out.push('one of ' + s.enum.join(', '));
    if (s.const !== undefined) out.push('always ' + s.const);
    if (s.default !== undefined) out.push('default ' + s.default);
    if (s.minimum !== undefined) out.push('≥ ' + s.minimum);
    if (s.maximum !== undefined) out.push('≤ ' + s.maximum);
    if (s.minItems !== undefined) out.push('≥ ' + s.minItems + ' items');
    if (s.maxItems !== undefined) out.push('≤ ' + s.maxItems + ' items');
    if (s.pattern) out.push('pattern ' + s.pattern);
    return out.join('; ');
  }

  // schemaBlock shows a schema: an object's fields as a table, nested
  // objects inside it, to a few levels.
  function schemaBlock(doc, s, depth, seen) {
    const box = el('div', { class: 'schema' });
    const name = refName(s);
    const target = resolve(doc, s);
    if (target.allOf) {
      box.append(el('div', { class: 'mono', text: typeLabel(doc, target) }));
      const base = target.allOf.find((x) => refName(x));
      if (base && depth < 4) box.append(schemaBlock(doc, base, depth + 1, seen));
      return box;
    }
    if (target.oneOf || target.anyOf) {
      for (const alt of target.oneOf || target.anyOf) box.append(schemaBlock(doc, alt, depth + 1, seen));
      return box;
    }
    const items = target.items && (Array.isArray(target.type) ? target.type.includes('array') : target.type === 'array');
    if (items) {
      box.append(el('div', { class: 'mono', text: typeLabel(doc, s) }));
      if (refName(target.items) && depth < 4) box.append(schemaBlock(doc, target.items, depth + 1, seen));
      return box;
    }
    if (!target.properties) {
      box.append(el('div', { class: 'mono', text: typeLabel(doc, s) + (constraints(target) ? ' — ' + constraints(target) : '') }));
      return box;
    }
    if (name) {
      box.append(el('div', {}, el('strong', { class: 'mono', text: name }), target.description ? el('span', { class: 'muted', text: ' — ' + target.description }) : null));
      if (seen.includes(name)) return box;
      seen = seen.concat([name]);
    }
    const required = target.required || [];
    const rows = Object.entries(target.properties).map(([field, fs]) => {
      const f = resolve(doc, fs);
      const about = [fs.description || (refName(fs) ? '' : f.description), constraints(fs)].filter(Boolean).join(' — ');
      const cell = el('td', {}, about);
      const nested = refName(fs) || (fs.items && refName(fs.items)) || (fs.allOf && refName(fs.allOf[0]));
      if (nested && depth < 3 && !seen.includes(nested)) cell.append(schemaBlock(doc, { $ref: '#/components/schemas/' + nested }, depth + 1, seen));
      return el('tr', {}, el('td', { class: 'mono' }, field, required.includes(field) ? el('span', { class: 'req', title: 'required', text: ' *' }) : null),
        el('td', { class: 'mono', text: typeLabel(doc, fs) }), cell);
    });
    box.append(el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'field' }), el('th', { text: 'type' }), el('th', { text: 'about' }))), el('tbody', {}, rows)));
    if (target.additionalProperties === false) box.append(el('div', { class: 'muted', text: 'no other fields' }));
    return box;
  }

  function pretty(v) {
    return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  }

  function authLabel(doc, op) {
    const parts = [];
    for (const req of op.security || []) {
      for (const [scheme, roles] of Object.entries(req)) {
        const label = AUTH_NAMES[scheme];
        if (label === null) continue;
        parts.push((label || scheme) + (roles.length ? ' (' + roles.join(', ') + ')' : ''));
      }
    }
    const v = op['x-cloudpay-verification'];
    if (v) parts.push(VERIFICATION_NAMES[v] || v);
    return parts.length ? parts.join(' + ') : 'none';
  }

  function authDetails(doc, op) {
    const list = el('ul');
    const schemes = (doc.components && doc.components.securitySchemes) || {};
    for (const req of op.security || []) {
      for (const [scheme, roles] of Object.entries(req)) {
        const s = schemes[scheme] || {};
        const where = s.type === 'http' ? 'Authorization: Bearer' : (s.in + ' ' + s.name);
        list.append(el('li', {}, el('code', { text: scheme }), ' (' + where + ')', roles.length ? el('span', {}, ' — roles: ', el('strong', { text: roles.join(', ') })) : null,
          el('div', { class: 'muted', text: s.description || '' })));
      }
    }
    const v = op['x-cloudpay-verification'];
    if (v) {
      const d = (doc['x-cloudpay-verifications'] || {})[v] || {};
      list.append(el('li', {}, el('code', { text: v }), el('div', { class: 'muted', text: d.description || '' })));
    }
    if (!list.children.length) list.append(el('li', { text: 'none: anyone may call it' }));
    return list;
  }

  function renderOp(doc, fn, path, method, op) {
    const auth = authLabel(doc, op);
    const details = el('details', { class: 'op', 'data-function': fn, 'data-method': method.toUpperCase(), 'data-path': path,
      'data-search': [method, path, op.summary, auth, (op.tags || []).join(' ')].join(' ').toLowerCase() });
    details.append(el('summary', {}, el('span', { class: 'method m-' + method, text: method.toUpperCase() }), el('code', { class: 'path', text: path }),
      el('span', { class: 'summary', text: op.summary || '' }), el('span', { class: 'auth', title: 'authentication', text: auth })));
    // The body is built when first opened: some documents are long.
    details.addEventListener('toggle', () => {
      if (details.open && !details.dataset.built) {
        details.dataset.built = 'true';
        details.append(opBody(doc, op));
      }
    });
    return details;
  }

  function opBody(doc, op) {
    const body = el('div', { class: 'op-body' });
    if (op.description) body.append(el('p', { text: op.description }));
    body.append(el('h3', { text: 'Authentication' }), authDetails(doc, op));
    const params = op.parameters || [];
    if (params.length) {
      body.append(el('h3', { text: 'Parameters' }), el('table', {}, el('thead', {}, el('tr', {}, ['name', 'in', 'type', 'about'].map((h) => el('th', { text: h })))),
        el('tbody', {}, params.map((p) => el('tr', {}, el('td', { class: 'mono' }, p.name, p.required ? el('span', { class: 'req', text: ' *' }) : null),
          el('td', { text: p.in }), el('td', { class: 'mono', text: typeLabel(doc, p.schema) }),
          el('td', {}, [p.description, constraints(p.schema || {})].filter(Boolean).join(' — ')))))));
    }
    if (op.requestBody) {
      body.append(el('h3', { text: 'Request body' + (op.requestBody.required ? '' : ' (optional)') }));
      if (op.requestBody.description) body.append(el('p', { class: 'muted', text: op.requestBody.description }));
      for (const [ct, media] of Object.entries(op.requestBody.content || {})) {
        body.append(el('div', { class: 'muted mono', text: ct }), schemaBlock(doc, media.schema, 0, []));
      }
    }
    const examples = op['x-cloudpay-examples'] || [];
    if (examples.length) {
      body.append(el('h3', { text: 'Examples' }));
      for (const ex of examples) {
        const box = el('div', { class: 'example' }, el('div', {}, el('strong', { text: ex.name }), ' — ' + ex.summary + ' → ', el('span', { class: 'status s' + String(ex.status)[0], text: String(ex.status) })));
        const values = params.filter((p) => p.examples && p.examples[ex.name]).map((p) => p.name + '=' + p.examples[ex.name].value);
        if (values.length) box.append(el('div', { class: 'mono', text: values.join('  ') }));
        for (const media of Object.values((op.requestBody && op.requestBody.content) || {})) {
          if (media.examples && media.examples[ex.name]) box.append(el('pre', { text: pretty(media.examples[ex.name].value) }));
        }
        body.append(box);
      }
    }
    body.append(el('h3', { text: 'Responses' }));
    for (const [status, resp] of Object.entries(op.responses || {})) {
      const row = el('div', { class: 'response', 'data-status': status }, el('span', { class: 'status s' + status[0], text: status }), ' ', resp.description || '');
      body.append(row);
      for (const [name, h] of Object.entries(resp.headers || {})) row.append(el('div', { class: 'muted' }, 'header ', el('code', { text: name }), ': ' + (h.description || '')));
      for (const [ct, media] of Object.entries(resp.content || {})) {
        row.append(el('div', { class: 'muted mono', text: ct }), schemaBlock(doc, media.schema, 0, []));
        for (const [name, ex] of Object.entries(media.examples || {})) {
          row.append(el('div', { class: 'muted', text: 'example ' + name + ': ' + (ex.summary || '') }), el('pre', { text: pretty(ex.value) }));
        }
      }
    }
    return body;
  }

  function renderFunction(fn, doc) {
    const section = el('section', { class: 'function', id: 'fn-' + fn.name, 'data-function': fn.name });
    section.append(el('h2', {}, fn.name, ' ', el('a', { href: fn.document, class: 'muted', text: 'openapi.json' })));
    if (doc.info && doc.info.description) section.append(el('p', { class: 'muted', text: doc.info.description }));
    let n = 0;
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        if (item[method]) {
          section.append(renderOp(doc, fn.name, path, method, item[method]));
          n++;
        }
      }
    }
    section.dataset.routes = String(n);
    return section;
  }

  async function load(fn) {
    const resp = await fetch(fn.document, { headers: { Accept: 'application/json' } });
    if (!resp.ok) throw new Error(fn.document + ': HTTP ' + resp.status);
    return resp.json();
  }

  function applyFilter() {
    const words = document.getElementById('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const op of document.querySelectorAll('details.op')) {
      const text = op.dataset.search;
      op.classList.toggle('hidden', !words.every((w) => text.includes(w)));
    }
  }

  async function main() {
    const root = document.getElementById('functions');
    const toc = document.getElementById('toc');
    let fns = [];
    try {
      const resp = await fetch('functions.json');
      fns = await resp.json();
    } catch (e) {
      root.append(el('p', { class: 'error', text: 'functions.json: ' + e.message }));
      return;
    }
    const docs = await Promise.all(fns.map((fn) => load(fn).then((d) => ({ fn, d }), (e) => ({ fn, e }))));
    document.getElementById('loading').remove();
    for (const { fn, d, e } of docs) {
      toc.append(el('a', { href: '#fn-' + fn.name, text: fn.name }));
      if (e) {
        root.append(el('section', { class: 'function', id: 'fn-' + fn.name, 'data-function': fn.name }, el('h2', { text: fn.name }), el('p', { class: 'error', text: e.message })));
        continue;
      }
      root.append(renderFunction(fn, d));
    }
    document.getElementById('filter').addEventListener('input', applyFilter);
    document.getElementById('expand').addEventListener('click', () => document.querySelectorAll('details.op:not(.hidden)').forEach((d) => { d.open = true; }));
    document.getElementById('collapse').addEventListener('click', () => document.querySelectorAll('details.op').forEach((d) => { d.open = false; }));
    root.setAttribute('aria-busy', 'false');
    root.dataset.ready = 'true';
  }

  main();
}());
