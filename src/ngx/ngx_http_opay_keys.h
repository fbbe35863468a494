
/*
 * ngx_http_opay_keys.h: a key source and its shared zone, between
 * ngx_http_opay_keys.c (requests, refresh, thread task) and
 * ngx_http_opay_keys_conf.c (configuration, the zone's start).
 */


#ifndef _NGX_HTTP_OPAY_KEYS_H_INCLUDED_
#define _NGX_HTTP_OPAY_KEYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


#define NGX_HTTP_OPAY_KEYS_NONE    0
#define NGX_HTTP_OPAY_KEYS_URL     1
#define NGX_HTTP_OPAY_KEYS_CACHE   2

#define NGX_HTTP_OPAY_KEYS_ERRLEN  512

/* how often a worker looks at the zone: idle, and with requests parked */
#define NGX_HTTP_OPAY_KEYS_TICK    1000
#define NGX_HTTP_OPAY_KEYS_WAKE    20


typedef struct {
    opay_schedule_t            schedule;
    ngx_uint_t                 generation;     /* one per new document */
    ngx_uint_t                 attempts;       /* one per finished fetch */
    ngx_uint_t                 source;         /* NGX_HTTP_OPAY_KEYS_* */
    time_t                     fetched_at;
    time_t                     refreshed_at;   /* the last fetch ended */
    ngx_uint_t                 results[OPAY_KEY_RESULTS];
    size_t                     doc_len;
    u_char                    *doc;
    opay_key_result_e          failure;        /* OPAY_KEY_OK: none since
                                                  the last document */
    ngx_pid_t                  fetcher;        /* while schedule.fetching */
} ngx_http_opay_keys_sh_t;


typedef struct {
    ngx_http_opay_keys_t      *keys;
    opay_source_t              source;
    int64_t                    now;
    opay_fetched_t             result;
    ngx_atomic_t               done;           /* set by the thread */
} ngx_http_opay_keys_job_t;


struct ngx_http_opay_keys_s {
    ngx_str_t                  jwks_url;       /* NUL-terminated, all */
    ngx_str_t                  openid_url;
    ngx_str_t                  ca_file;
    ngx_str_t                  cache;
    size_t                     max_size;
    ngx_msec_t                 refresh;
    ngx_msec_t                 min_refresh;
    ngx_msec_t                 timeout;
    ngx_cycle_t               *cycle;          /* the workers' user */

    ngx_shm_zone_t            *zone;
    ngx_http_opay_keys_sh_t   *sh;
    ngx_slab_pool_t           *shpool;

    /* this worker's view, changed on the event loop only */
    opay_keys_t               *current;
    ngx_uint_t                 generation;
    ngx_uint_t                 attempts;
    ngx_uint_t                 source;
    time_t                     fetched_at;
    opay_key_result_e          failure;        /* the last fetch's */
    ngx_queue_t                parked;
    ngx_event_t                tick;
    ngx_thread_task_t         *task;
    unsigned                   fetching:1;
};


/* called with the zone locked */
ngx_int_t ngx_http_opay_keys_store(ngx_http_opay_keys_sh_t *sh,
    ngx_slab_pool_t *shpool, opay_fetched_t *f, ngx_uint_t source);
void ngx_http_opay_keys_source(ngx_http_opay_keys_t *keys,
    opay_source_t *src);


#endif /* _NGX_HTTP_OPAY_KEYS_H_INCLUDED_ */
