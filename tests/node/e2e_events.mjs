// Deterministic, schema-valid events for the end-to-end test, with every
// column exercised: nulls, missing optionals, unicode, sub-millisecond times,
// offsets, late events, nested context and scalar properties.
//   node e2e_events.mjs N > sent.ndjson
const n = Number(process.argv[2] || 1000);
let seed = 7;
const r = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const types = ['app.opened', 'product.viewed', 'checkout.completed', 'screen.viewed', 'search.performed'];
const now = Date.now();
const out = [];
for (let i = 0; i < n; i++) {
  const hex = i.toString(16).padStart(12, '0');
  const t = new Date(now - Math.floor(r() * 3 * 3600e3));
  const iso = i % 3 === 0 ? t.toISOString().replace('Z', '123Z').replace(/\.(\d{3})123Z/, '.$1123Z') // microseconds
    : i % 3 === 1 ? t.toISOString().replace('Z', '+00:00') : t.toISOString();
  const e = { event_id: `a1b2c3d4-0000-4000-8000-${hex}`, event_type: types[i % types.length], event_time: iso,
    app_id: i % 2 ? 'shop-web' : 'shop-ios' };
  if (i % 4) e.user_id = i % 8 === 1 ? null : `u-${i % 97}`;
  if (i % 5) e.session_id = `s-${Math.floor(i / 10)}`;
  if (i % 6) e.platform = ['ios', 'android', 'web', 'server', 'embedded'][i % 5];
  if (i % 7) e.app_version = `4.${i % 3}.${i % 10}`;
  if (i % 2) e.context = { locale: 'de-DE', os: 'Android', device: i % 3 ? 'Pixel 8' : 'Größe “ü” 😀' };
  if (i % 3) e.properties = i % 5 === 2 ? { currency: i % 2 ? 'EUR' : 'USD', total: Math.round(r() * 1e4) / 100, items: 1 + (i % 4), coupon: null }
    : { q: `search ${i} "quoted" \\ back`, ok: i % 2 === 0, n: i * 1.5 };
  out.push(JSON.stringify(e));
}
console.log(out.join('\n'));
