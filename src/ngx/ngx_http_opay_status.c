
/*
 * ngx_http_opay_status.c: the "opay_status" handler.  Every webhook call
 * is counted in the shared zone "opay_status" -- by location, webhook,
 * event and outcome; refusals by reason code; charges by result and inner
 * code; latency histograms of the whole call, of the backends and of the
 * processor -- across all workers and kept across reloads, and answered
 * in Prometheus' text exposition format 0.0.4.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


#define NGX_HTTP_OPAY_STATUS_ZONE_SIZE  (256 * 1024)
#define NGX_HTTP_OPAY_STATUS_SERIES     512
#define NGX_HTTP_OPAY_STATUS_KEYLEN     200
#define NGX_HTTP_OPAY_STATUS_BUCKETS    11


/* one series: a counter, or a histogram; key is name{labels} */

typedef struct {
    uint32_t                   hash;
    u_short                    len;            /* 0: a free slot */
    u_char                     histogram;
    u_char                     key[NGX_HTTP_OPAY_STATUS_KEYLEN];
    uint64_t                   value;          /* counter, histogram count */
    uint64_t                   sum;            /* microseconds */
    uint64_t                   buckets[NGX_HTTP_OPAY_STATUS_BUCKETS];
} ngx_http_opay_series_t;


typedef struct {
    uint64_t                   dropped;        /* series that did not fit */
    ngx_http_opay_series_t     series[NGX_HTTP_OPAY_STATUS_SERIES];
} ngx_http_opay_status_sh_t;


typedef struct {
    const char                *name;
    const char                *type;
    const char                *help;
} ngx_http_opay_family_t;


static size_t ngx_http_opay_status_key(u_char *buf, size_t size,
    const char *name, const char **names, ngx_str_t *values, ngx_uint_t n);
static void ngx_http_opay_status_add(ngx_http_opay_status_sh_t *sh,
    u_char *key, size_t len, ngx_uint_t histogram, uint64_t us);
static ngx_int_t ngx_http_opay_status_handler(ngx_http_request_t *r);
static int ngx_libc_cdecl ngx_http_opay_series_cmp(const void *one,
    const void *two);
static size_t ngx_http_opay_family_len(ngx_http_opay_series_t *s);
static u_char *ngx_http_opay_status_family(u_char *p, u_char *key,
    size_t len);
static u_char *ngx_http_opay_status_series(u_char *p,
    ngx_http_opay_series_t *s);
static size_t ngx_http_opay_status_keys_size(ngx_array_t *sources);
static u_char *ngx_http_opay_status_keys(ngx_http_request_t *r, u_char *p,
    ngx_array_t *sources);
static ngx_int_t ngx_http_opay_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


/* upper bounds of the finite buckets, in microseconds, and as printed */

static uint64_t  ngx_http_opay_bucket_us[NGX_HTTP_OPAY_STATUS_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000
};

static const char  *ngx_http_opay_bucket_le[NGX_HTTP_OPAY_STATUS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10"
};


static ngx_http_opay_family_t  ngx_http_opay_families[] = {
    { "opay_requests_total", "counter",
      "Webhook calls answered, by location, webhook, event, outcome and "
      "HTTP status." },
    { "opay_refusals_total", "counter",
      "Webhook calls refused, by location and reason code." },
    { "opay_charges_total", "counter",
      "Charges made through the processor, by result and inner error "
      "code." },
    { "opay_request_duration_seconds", "histogram",
      "Time from the webhook call to its answer, by location." },
    { "opay_backend_duration_seconds", "histogram",
      "Time of the invoice, shipping and notify subrequests, by backend." },
    { "opay_processor_duration_seconds", "histogram",
      "Time of the processor subrequests." },
    { "opay_keys_age_seconds", "gauge",
      "Age of the signing key set in use, since it was fetched, by key "
      "URL." },
    { "opay_keys_last_refresh_timestamp_seconds", "gauge",
      "When the last key fetch ended, whatever its result, by key URL." },
    { "opay_keys_refresh_total", "counter",
      "Key fetches that ended, by key URL and result." },
    { NULL, NULL, NULL }
};


static const char  *ngx_http_opay_request_labels[] = {
    "location", "webhook", "event", "outcome", "status"
};

static const char  *ngx_http_opay_refusal_labels[] = { "location", "reason" };
static const char  *ngx_http_opay_charge_labels[] = { "result", "code" };
static const char  *ngx_http_opay_backend_labels[] = { "backend" };
static const char  *ngx_http_opay_keys_labels[] = { "url", "result" };


/*
 * Microseconds of a monotonic clock: nginx's cached millisecond time would
 * put most loopback subrequests at 0.
 */

uint64_t
ngx_http_opay_status_clock(void)
{
#if (NGX_HAVE_CLOCK_MONOTONIC)
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#else
    return (uint64_t) ngx_current_msec * 1000;
#endif
}


/* counts one answered webhook call */

void
ngx_http_opay_status_respond(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    ngx_uint_t status)
{
    u_char                      buf[NGX_INT_T_LEN];
    ngx_str_t                   labels[5], location;
    opay_str_t                  s;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    ngx_http_opay_status_sh_t  *sh;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_opay_loc_conf_t   *olcf;
    ngx_http_opay_main_conf_t  *omcf;
    u_char                      request[NGX_HTTP_OPAY_STATUS_KEYLEN];
    u_char                      refusal[NGX_HTTP_OPAY_STATUS_KEYLEN];
    u_char                      charge[NGX_HTTP_OPAY_STATUS_KEYLEN];
    u_char                      duration[NGX_HTTP_OPAY_STATUS_KEYLEN];
    size_t                      request_len, refusal_len, charge_len,
                                duration_len;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    zone = omcf->status_zone;

    if (zone == NULL || ctx->flow == NULL) {
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    location = clcf->name;

    labels[0] = location;

    if (olcf->webhook == NGX_HTTP_OPAY_COMPLETE) {
        ngx_str_set(&labels[1], "payment_complete");
    } else {
        ngx_str_set(&labels[1], "payment_request");
    }

    if (opay_flow_var(ctx->flow, OPAY_VAR_EVENT, &s)) {
        labels[2].data = (u_char *) s.data;
        labels[2].len = s.len;
    } else {
        ngx_str_set(&labels[2], "none");
    }

    /* success or fail of a PaymentComplete; ok or refused otherwise */

    if (opay_flow_var(ctx->flow, OPAY_VAR_RESULT, &s)) {
        labels[3].data = (u_char *) s.data;
        labels[3].len = s.len;

    } else if (status == NGX_HTTP_OK) {
        ngx_str_set(&labels[3], "ok");

    } else {
        ngx_str_set(&labels[3], "refused");
    }

    labels[4].data = buf;
    labels[4].len = ngx_sprintf(buf, "%ui", status) - buf;

    request_len = ngx_http_opay_status_key(request, sizeof(request),
                                           "opay_requests_total",
                                           ngx_http_opay_request_labels,
                                           labels, 5);

    refusal_len = 0;

    if (opay_flow_var(ctx->flow, OPAY_VAR_ERROR, &s)) {
        labels[1].data = (u_char *) s.data;
        labels[1].len = s.len;
        refusal_len = ngx_http_opay_status_key(refusal, sizeof(refusal),
                                               "opay_refusals_total",
                                               ngx_http_opay_refusal_labels,
                                               labels, 2);
    }

    charge_len = 0;

    if (opay_flow_var(ctx->flow, OPAY_VAR_CHARGE, &s)) {
        labels[0].data = (u_char *) s.data;
        labels[0].len = s.len;

        if (opay_flow_var(ctx->flow, OPAY_VAR_CHARGE_CODE, &s)) {
            labels[1].data = (u_char *) s.data;
            labels[1].len = s.len;
        } else {
            ngx_str_null(&labels[1]);
        }

        charge_len = ngx_http_opay_status_key(charge, sizeof(charge),
                                              "opay_charges_total",
                                              ngx_http_opay_charge_labels,
                                              labels, 2);
    }

    labels[0] = location;
    duration_len = ngx_http_opay_status_key(duration, sizeof(duration),
                                            "opay_request_duration_seconds",
                                            ngx_http_opay_request_labels,
                                            labels, 1);

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_opay_status_add(sh, request, request_len, 0, 0);
    ngx_http_opay_status_add(sh, refusal, refusal_len, 0, 0);
    ngx_http_opay_status_add(sh, charge, charge_len, 0, 0);
    ngx_http_opay_status_add(sh, duration, duration_len, 1,
                             ngx_http_opay_status_clock() - ctx->start);

    ngx_shmtx_unlock(&shpool->mutex);
}


/* times one subrequest to a backend or the processor */

void
ngx_http_opay_status_fetch(ngx_http_request_t *r, ngx_uint_t target,
    uint64_t start)
{
    size_t                      len;
    u_char                      key[NGX_HTTP_OPAY_STATUS_KEYLEN];
    ngx_str_t                   label;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    zone = omcf->status_zone;

    if (zone == NULL || target > OPAY_TARGET_NOTIFY) {
        return;
    }

    if (target == OPAY_TARGET_PROCESSOR) {
        len = ngx_http_opay_status_key(key, sizeof(key),
                                       "opay_processor_duration_seconds",
                                       NULL, NULL, 0);

    } else {
        label.data = (u_char *) opay_target_name((opay_target_e) target);
        label.len = ngx_strlen(label.data);
        len = ngx_http_opay_status_key(key, sizeof(key),
                                       "opay_backend_duration_seconds",
                                       ngx_http_opay_backend_labels,
                                       &label, 1);
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    ngx_http_opay_status_add(zone->data, key, len, 1,
                             ngx_http_opay_status_clock() - start);
    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Writes name{n1="v1",n2="v2"} into buf, the values escaped as the
 * exposition format wants (\\, \", \n); returns its length, or size + 1
 * when it does not fit (a long location name): that call is counted as
 * dropped, not lost without a trace.
 */

static size_t
ngx_http_opay_status_key(u_char *buf, size_t size, const char *name,
    const char **names, ngx_str_t *values, ngx_uint_t n)
{
    u_char      *p, *last, c;
    size_t       len;
    ngx_uint_t   i, k;

    p = buf;
    last = buf + size;

    len = ngx_strlen(name);
    if (len + 2 > (size_t) (last - p)) {
        return size + 1;
    }

    p = ngx_cpymem(p, name, len);

    for (k = 0; k < n; k++) {
        len = ngx_strlen(names[k]);

        /* ",name=\"" before, "\"}" after */

        if (len + 5 > (size_t) (last - p)) {
            return size + 1;
        }

        *p++ = k ? ',' : '{';
        p = ngx_cpymem(p, names[k], len);
        *p++ = '=';
        *p++ = '"';

        for (i = 0; i < values[k].len; i++) {
            c = values[k].data[i];

            if (last - p < 4) {
                return size + 1;
            }

            if (c == '\\' || c == '"') {
                *p++ = '\\';
                *p++ = c;

            } else if (c == '\n') {
                *p++ = '\\';
                *p++ = 'n';

            } else {
                *p++ = c;
            }
        }

        *p++ = '"';
    }

    if (n) {
        *p++ = '}';
    }

    return p - buf;
}


/* adds one to a counter, or one observation to a histogram; under lock */

static void
ngx_http_opay_status_add(ngx_http_opay_status_sh_t *sh, u_char *key,
    size_t len, ngx_uint_t histogram, uint64_t us)
{
    uint32_t                 hash;
    ngx_uint_t               i, n;
    ngx_http_opay_series_t  *s;

    if (len == 0) {
        return;
    }

    if (len > NGX_HTTP_OPAY_STATUS_KEYLEN) {
        sh->dropped++;
        return;
    }

    hash = ngx_crc32_short(key, len);

    /* open addressing: the first slot that holds the key or is free */

    s = NULL;

    for (n = 0; n < NGX_HTTP_OPAY_STATUS_SERIES; n++) {
        s = &sh->series[(hash + n) % NGX_HTTP_OPAY_STATUS_SERIES];

        if (s->len == 0) {
            s->hash = hash;
            s->len = (u_short) len;
            s->histogram = (u_char) histogram;
            ngx_memcpy(s->key, key, len);
            break;
        }

        if (s->hash == hash && s->len == len
            && ngx_memcmp(s->key, key, len) == 0)
        {
            break;
        }
    }

    if (n == NGX_HTTP_OPAY_STATUS_SERIES || s == NULL) {
        sh->dropped++;
        return;
    }

    s->value++;

    if (!histogram) {
        return;
    }

    s->sum += us;

    for (i = 0; i < NGX_HTTP_OPAY_STATUS_BUCKETS; i++) {
        if (us <= ngx_http_opay_bucket_us[i]) {
            s->buckets[i]++;
            break;
        }
    }
}


static ngx_int_t
ngx_http_opay_status_handler(ngx_http_request_t *r)
{
    size_t                      size;
    u_char                     *p;
    uint64_t                    dropped;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, n;
    ngx_chain_t                 out;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    ngx_http_opay_series_t     *copy;
    ngx_http_opay_status_sh_t  *sh;
    ngx_http_opay_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    zone = omcf->status_zone;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    /* a snapshot taken under the lock, written out after it */

    copy = ngx_palloc(r->pool, sizeof(sh->series));
    if (copy == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < NGX_HTTP_OPAY_STATUS_SERIES; i++) {
        if (sh->series[i].len) {
            copy[n++] = sh->series[i];
        }
    }

    dropped = sh->dropped;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_qsort(copy, n, sizeof(ngx_http_opay_series_t),
              ngx_http_opay_series_cmp);

    /* per series at most its buckets, +Inf, _sum and _count lines */

    size = sizeof(ngx_http_opay_families) / sizeof(ngx_http_opay_family_t)
           * 256
           + n * (NGX_HTTP_OPAY_STATUS_BUCKETS + 3)
               * (NGX_HTTP_OPAY_STATUS_KEYLEN + 64)
           + ngx_http_opay_status_keys_size(omcf->key_sources)
           + 256;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    for (i = 0; i < n; i++) {
        if (i == 0
            || ngx_memn2cmp(copy[i - 1].key, copy[i].key,
                            ngx_http_opay_family_len(&copy[i - 1]),
                            ngx_http_opay_family_len(&copy[i]))
               != 0)
        {
            /* the first series of its family: HELP and TYPE first */
            p = ngx_http_opay_status_family(p, copy[i].key, copy[i].len);
        }

        p = ngx_http_opay_status_series(p, &copy[i]);
    }

    p = ngx_http_opay_status_keys(r, p, omcf->key_sources);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "# HELP opay_status_dropped_total Calls not counted"
                       " in a series: the opay_status zone was full,"
                       " or the labels too long.\n"
                       "# TYPE opay_status_dropped_total counter\n"
                       "opay_status_dropped_total %uL\n", dropped);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* by key: the series of one family come together, in a stable order */

static int ngx_libc_cdecl
ngx_http_opay_series_cmp(const void *one, const void *two)
{
    const ngx_http_opay_series_t  *a = one;
    const ngx_http_opay_series_t  *b = two;

    return ngx_memn2cmp((u_char *) a->key, (u_char *) b->key, a->len, b->len);
}


/* the length of the family name: the key up to "{" */

static size_t
ngx_http_opay_family_len(ngx_http_opay_series_t *s)
{
    size_t  len;

    for (len = 0; len < s->len && s->key[len] != '{'; len++) {
        /* void */
    }

    return len;
}


static u_char *
ngx_http_opay_status_family(u_char *p, u_char *key, size_t len)
{
    size_t                   name_len;
    ngx_http_opay_family_t  *f;

    for (name_len = 0; name_len < len && key[name_len] != '{'; name_len++) {
        /* void */
    }

    for (f = ngx_http_opay_families; f->name; f++) {
        if (ngx_strlen(f->name) == name_len
            && ngx_strncmp(f->name, key, name_len) == 0)
        {
            return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                               f->name, f->help, f->name, f->type);
        }
    }

    return p;
}


static u_char *
ngx_http_opay_status_series(u_char *p, ngx_http_opay_series_t *s)
{
    size_t      name_len, labels_len;
    u_char     *labels;
    uint64_t    cumulative;
    ngx_uint_t  i;

    if (!s->histogram) {
        return ngx_sprintf(p, "%*s %uL\n", (size_t) s->len, s->key,
                           s->value);
    }

    /* name{labels} -> name_bucket{labels,le="..."} and so on */

    for (name_len = 0; name_len < s->len && s->key[name_len] != '{';
         name_len++)
    {
        /* void */
    }

    labels = s->key + name_len;
    labels_len = s->len - name_len;     /* "{a=\"b\"}" or empty */

    cumulative = 0;

    for (i = 0; i <= NGX_HTTP_OPAY_STATUS_BUCKETS; i++) {
        if (i < NGX_HTTP_OPAY_STATUS_BUCKETS) {
            cumulative += s->buckets[i];
        } else {
            cumulative = s->value;
        }

        p = ngx_sprintf(p, "%*s_bucket", name_len, s->key);

        if (labels_len) {
            p = ngx_sprintf(p, "%*s,", labels_len - 1, labels);
        } else {
            *p++ = '{';
        }

        p = ngx_sprintf(p, "le=\"%s\"} %uL\n",
                        i < NGX_HTTP_OPAY_STATUS_BUCKETS
                        ? ngx_http_opay_bucket_le[i] : "+Inf",
                        cumulative);
    }

    p = ngx_sprintf(p, "%*s_sum%*s %uL.%06uL\n", name_len, s->key,
                    labels_len, labels, s->sum / 1000000, s->sum % 1000000);

    return ngx_sprintf(p, "%*s_count%*s %uL\n", name_len, s->key,
                       labels_len, labels, s->value);
}


/* room for the key sources' lines: a URL is at most doubled by escaping */

static size_t
ngx_http_opay_status_keys_size(ngx_array_t *sources)
{
    size_t                  size;
    ngx_uint_t              i;
    ngx_http_opay_keys_t  **keys;

    if (sources == NULL) {
        return 0;
    }

    size = 3 * 256;
    keys = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        size += (OPAY_KEY_RESULTS + 2)
                * (2 * ngx_http_opay_keys_url(keys[i])->len + 128);
    }

    return size;
}


/*
 * Per key URL, read from its zone at scrape time: the age of the set in
 * use, when the last fetch ended, and the fetches by result (every result
 * written, 0 or not, so that a rate needs no first sample).
 */

static u_char *
ngx_http_opay_status_keys(ngx_http_request_t *r, u_char *p,
    ngx_array_t *sources)
{
    size_t                       len, size;
    u_char                      *key;
    time_t                       now;
    ngx_str_t                    labels[2];
    opay_str_t                   name;
    ngx_uint_t                   i, k, family;
    ngx_http_opay_keys_t       **keys;
    ngx_http_opay_keys_stats_t  *st;

    static const char  *names[] = {
        "opay_keys_age_seconds",
        "opay_keys_last_refresh_timestamp_seconds",
        "opay_keys_refresh_total"
    };

    if (sources == NULL || sources->nelts == 0) {
        return p;
    }

    st = ngx_pcalloc(r->pool, sources->nelts * sizeof(*st));
    if (st == NULL) {
        return NULL;
    }

    keys = sources->elts;
    size = 0;

    for (i = 0; i < sources->nelts; i++) {
        ngx_http_opay_keys_stats(keys[i], &st[i]);
        size = ngx_max(size, 2 * st[i].url.len + 128);
    }

    key = ngx_pnalloc(r->pool, size);
    if (key == NULL) {
        return NULL;
    }

    now = ngx_time();

    /* a family's lines together, as the format wants */

    for (family = 0; family < 3; family++) {

        p = ngx_http_opay_status_family(p, (u_char *) names[family],
                                        ngx_strlen(names[family]));

        for (i = 0; i < sources->nelts; i++) {
            labels[0] = st[i].url;

            if (family == 0) {
                if (st[i].fetched_at == 0) {
                    continue;
                }

                len = ngx_http_opay_status_key(key, size, names[family],
                                               ngx_http_opay_keys_labels,
                                               labels, 1);
                p = ngx_sprintf(p, "%*s %T\n", len, key,
                                ngx_max(now - st[i].fetched_at, 0));
                continue;
            }

            if (family == 1) {
                if (st[i].refreshed_at == 0) {
                    continue;
                }

                len = ngx_http_opay_status_key(key, size, names[family],
                                               ngx_http_opay_keys_labels,
                                               labels, 1);
                p = ngx_sprintf(p, "%*s %T\n", len, key,
                                st[i].refreshed_at);
                continue;
            }

            for (k = 0; k < OPAY_KEY_RESULTS; k++) {
                name = opay_key_result_name((opay_key_result_e) k);
                labels[1].data = (u_char *) name.data;
                labels[1].len = name.len;
                len = ngx_http_opay_status_key(key, size, names[family],
                                               ngx_http_opay_keys_labels,
                                               labels, 2);
                p = ngx_sprintf(p, "%*s %ui\n", len, key, st[i].results[k]);
            }
        }
    }

    return p;
}


char *
ngx_http_opay_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                   name = ngx_string("opay_status");
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);

    if (omcf->status_zone == NULL) {
        /* same name, size and tag on reload: the counters are kept */

        omcf->status_zone = ngx_shared_memory_add(cf, &name,
                                          NGX_HTTP_OPAY_STATUS_ZONE_SIZE,
                                          &ngx_http_opay_module);
        if (omcf->status_zone == NULL) {
            return NGX_CONF_ERROR;
        }

        omcf->status_zone->init = ngx_http_opay_status_init_zone;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_opay_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_opay_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_opay_status_sh_t  *sh;

    if (data) {
        /* a reload: the old cycle's counters go on */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_opay_status_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}
