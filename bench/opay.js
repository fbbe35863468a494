// The njs peer of `make bench-http` (bench/http.sh): what a merchant would
// write in nginx's own JavaScript for loadentity, to compare the module
// with. It checks the bearer token (RS256 with WebCrypto, kid, audience,
// expiry), reads the invoice with r.subrequest and answers JSON built from
// it. bench/http.sh fills in @MERCHANT@ and @SPKI@ (the demo key's public
// half, DER in base64). Not a product: no other event, no money checks.

const MERCHANT = '@MERCHANT@';
const SPKI = Buffer.from('@SPKI@', 'base64');
const RS256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

function part(s) {
    return JSON.parse(Buffer.from(s, 'base64url').toString());
}

async function verified(r) {
    const auth = r.headersIn.Authorization || '';
    if (!auth.startsWith('Bearer ')) return null;
    const p = auth.slice(7).split('.');
    if (p.length !== 3) return null;
    const header = part(p[0]);
    if (header.alg !== 'RS256' || header.kid !== 'demo-only') return null;
    // njs gives each request a fresh VM: the key is imported per request
    const key = await crypto.subtle.importKey('spki', SPKI, RS256, false,
                                              ['verify']);
    const ok = await crypto.subtle.verify(RS256, key,
                                          Buffer.from(p[2], 'base64url'),
                                          Buffer.from(p[0] + '.' + p[1]));
    if (!ok) return null;
    const claims = part(p[1]);
    if (claims.aud !== MERCHANT || !(claims.exp > Date.now() / 1000)) {
        return null;
    }
    return claims;
}

async function loadentity(r) {
    try {
        if (!(await verified(r))) return r.return(401);
        const body = JSON.parse(r.requestText);
        const data = body.methodData[0].data;
        if (data.event !== 'loadentity') return r.return(400);
        const id = String(data.productContext.invoiceId);
        const reply = await r.subrequest('/_invoices/'
                                         + encodeURIComponent(id) + '.json');
        if (reply.status !== 200) return r.return(502);
        const invoice = JSON.parse(reply.responseText);
        const due = invoice.entity.totalPaymentDue;
        const total = { currency: due.priceCurrency,
                        value: due.price.toFixed(2) };
        r.headersOut['Content-Type'] = 'application/json';
        r.return(200, JSON.stringify({
            id: invoice.entity.identifier,
            methodData: [{
                supportedMethods: 'https://pay.microsoft.com/microsoftpay',
                data: { event: 'loadentity',
                        productContext: data.productContext,
                        supportedNetworks: ['visa', 'mastercard'],
                        supportedTypes: ['credit'],
                        entity: invoice.entity } }],
            details: {
                id: invoice.entity.identifier,
                total: { label: 'Total Due', amount: total, pending: false },
                displayItems: invoice.displayItems } }));
    } catch (e) {
        r.return(400);
    }
}

export default { loadentity };
