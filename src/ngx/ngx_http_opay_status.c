
/*
 * ngx_http_opay_status.c: the "opay_status" handler.  Every webhook call
 * is counted in the shared zone "opay_status" -- by location, webhook,
 * event and outcome; refusals by reason code; charges by result and inner
 * code; latency histograms of the whole call, of the backends and of the
 * processor -- across all workers and kept across reloads.  The core
 * names the series and writes the page (Prometheus' text exposition
 * format 0.0.4, opay_metrics_write); the zone, its lock and the table of
 * series are here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


#define NGX_HTTP_OPAY_STATUS_ZONE_SIZE  (256 * 1024)
#define NGX_HTTP_OPAY_STATUS_SERIES     512


typedef struct {
    uint64_t                   dropped;        /* calls not in a series */
    opay_series_t              series[NGX_HTTP_OPAY_STATUS_SERIES];
} ngx_http_opay_status_sh_t;


static void ngx_http_opay_status_add(ngx_http_opay_status_sh_t *sh,
    opay_str_t key, ngx_uint_t histogram, uint64_t us);
static ngx_int_t ngx_http_opay_status_handler(ngx_http_request_t *r);
static opay_key_stats_t *ngx_http_opay_status_keys(ngx_http_request_t *r,
    ngx_array_t *sources);
static ngx_int_t ngx_http_opay_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


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


/* counts one answered webhook call in the series the core names */

void
ngx_http_opay_status_respond(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    ngx_uint_t status)
{
    size_t                      i, n;
    uint64_t                    us;
    opay_str_t                  location;
    opay_metric_t               metrics[OPAY_METRICS_CALL_MAX];
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    zone = omcf->status_zone;

    if (zone == NULL || ctx->flow == NULL) {
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    location.data = (const char *) clcf->name.data;
    location.len = clcf->name.len;

    n = opay_flow_metrics(ctx->flow, location, (int) status, metrics);
    us = ngx_http_opay_status_clock() - ctx->start;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < n; i++) {
        ngx_http_opay_status_add(zone->data, metrics[i].key,
                                 metrics[i].histogram, us);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* times one subrequest to a backend or the processor */

void
ngx_http_opay_status_fetch(ngx_http_request_t *r, ngx_uint_t target,
    uint64_t start)
{
    char                        buf[OPAY_METRICS_KEY_MAX];
    opay_str_t                  key;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    zone = omcf->status_zone;

    if (zone == NULL || target > OPAY_TARGET_NOTIFY) {
        return;
    }

    key.data = buf;
    key.len = opay_metrics_fetch_key((opay_target_e) target, buf,
                                     sizeof(buf));

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    ngx_http_opay_status_add(zone->data, key, 1,
                             ngx_http_opay_status_clock() - start);
    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * adds one to a counter, or one observation to a histogram; under lock.
 * An empty key (labels too long) or a full zone: the call is counted as
 * dropped, not lost without a trace.
 */

static void
ngx_http_opay_status_add(ngx_http_opay_status_sh_t *sh, opay_str_t key,
    ngx_uint_t histogram, uint64_t us)
{
    uint32_t        hash;
    ngx_uint_t      n;
    opay_series_t  *s;

    if (key.len == 0 || key.len > OPAY_METRICS_KEY_MAX) {
        sh->dropped++;
        return;
    }

    hash = ngx_crc32_short((u_char *) key.data, key.len);

    /* open addressing: the first slot that holds the key or is free */

    for (n = 0; n < NGX_HTTP_OPAY_STATUS_SERIES; n++) {
        s = &sh->series[(hash + n) % NGX_HTTP_OPAY_STATUS_SERIES];

        if (s->len == 0) {
            s->hash = hash;
            s->len = (uint16_t) key.len;
            s->histogram = (uint8_t) histogram;
            ngx_memcpy(s->key, key.data, key.len);
            opay_series_count(s, us);
            return;
        }

        if (s->hash == hash && s->len == key.len
            && ngx_memcmp(s->key, key.data, key.len) == 0)
        {
            opay_series_count(s, us);
            return;
        }
    }

    sh->dropped++;
}


static ngx_int_t
ngx_http_opay_status_handler(ngx_http_request_t *r)
{
    size_t                      len, n_keys;
    time_t                      now;
    uint64_t                    dropped;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, n;
    ngx_chain_t                 out;
    opay_series_t              *copy;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *zone;
    opay_key_stats_t           *keys;
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

    n_keys = omcf->key_sources ? omcf->key_sources->nelts : 0;
    keys = NULL;

    if (n_keys) {
        keys = ngx_http_opay_status_keys(r, omcf->key_sources);
        if (keys == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* the page's length first, then the page */

    now = ngx_time();
    len = opay_metrics_write(NULL, 0, copy, n, keys, n_keys, dropped, now);

    b = (len == 0) ? NULL : ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (opay_metrics_write((char *) b->pos, len, copy, n, keys, n_keys,
                           dropped, now)
        != len)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = b->pos + len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
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


/* the key sources' state, read from their zones at scrape time */

static opay_key_stats_t *
ngx_http_opay_status_keys(ngx_http_request_t *r, ngx_array_t *sources)
{
    ngx_uint_t              i;
    opay_key_stats_t       *st;
    ngx_http_opay_keys_t  **keys;

    st = ngx_pcalloc(r->pool, sources->nelts * sizeof(opay_key_stats_t));
    if (st == NULL) {
        return NULL;
    }

    keys = sources->elts;

    for (i = 0; i < sources->nelts; i++) {
        ngx_http_opay_keys_stats(keys[i], &st[i]);
    }

    return st;
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
