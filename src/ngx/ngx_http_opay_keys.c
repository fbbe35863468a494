
/*
 * ngx_http_opay_keys.c: the issuer's signing keys from opay_jwks_url or
 * opay_openid_configuration.  One key source per distinct URL, with its
 * own shared memory zone: the last good document, the refresh schedule
 * and the last failure, for all workers.  The worker whose turn it is
 * fetches in a thread-pool task (libcurl, in the core: never on the event
 * loop); every worker picks a new document up from the zone on a timer
 * and swaps its parsed key set in on the event loop.  A request whose
 * token names an unknown kid (or that finds no keys at all) waits, parked
 * without blocking the worker, for the fetch it asked for, then is run
 * again once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"
#include "ngx_http_opay_keys.h"


#if (NGX_THREADS)
static void ngx_http_opay_keys_orphan(ngx_http_opay_keys_t *keys,
    ngx_log_t *log);
#endif
static void ngx_http_opay_keys_tick(ngx_event_t *ev);
static void ngx_http_opay_keys_arm(ngx_http_opay_keys_t *keys);
static void ngx_http_opay_keys_pick_up(ngx_http_opay_keys_t *keys,
    ngx_log_t *log);
static void ngx_http_opay_keys_wake(ngx_http_opay_keys_t *keys,
    ngx_uint_t all);
static ngx_int_t ngx_http_opay_keys_start(ngx_http_opay_keys_t *keys,
    ngx_uint_t unknown_kid, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_opay_keys_fetch(void *data, ngx_log_t *log);
static void ngx_http_opay_keys_fetched(ngx_event_t *ev);
static void ngx_http_opay_keys_done(ngx_http_opay_keys_t *keys,
    ngx_log_t *log);
#endif
static void ngx_http_opay_keys_unpark(void *data);
static int64_t ngx_http_opay_keys_now(void);
static void ngx_http_opay_keys_policy(ngx_http_opay_keys_t *keys,
    opay_refresh_t *policy);
static void ngx_http_opay_keys_set_failure(ngx_http_opay_keys_t *keys);


static ngx_str_t  ngx_http_opay_keys_sources[] = {
    ngx_string("none"),
    ngx_string("url"),
    ngx_string("cache")
};


/*
 * Worker start: pick up the document the zone holds (kept across
 * reloads, or read from opay_jwks_cache by the master) and start the
 * timer that refreshes.
 */

ngx_int_t
ngx_http_opay_keys_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_opay_keys_t      **keys, *k;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_opay_worker_conf(cycle);
    if (omcf == NULL || omcf->key_sources == NULL) {
        return NGX_OK;
    }

    keys = omcf->key_sources->elts;

    for (i = 0; i < omcf->key_sources->nelts; i++) {
        k = keys[i];

        ngx_queue_init(&k->parked);

#if (NGX_THREADS)
        k->task = ngx_thread_task_alloc(cycle->pool,
                                        sizeof(ngx_http_opay_keys_job_t));
        if (k->task == NULL) {
            return NGX_ERROR;
        }
#endif

        k->tick.handler = ngx_http_opay_keys_tick;
        k->tick.data = k;
        k->tick.log = cycle->log;
        k->tick.cancelable = 1;

        ngx_http_opay_keys_pick_up(k, cycle->log);
        ngx_http_opay_keys_set_failure(k);

        /* the first look at the schedule right away, on the event loop */
        ngx_add_timer(&k->tick, 1);
    }

    return NGX_OK;
}


void
ngx_http_opay_keys_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_opay_keys_t      **keys;
    ngx_http_opay_main_conf_t  *omcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_opay_module);
    if (omcf == NULL || omcf->key_sources == NULL) {
        return;
    }

    keys = omcf->key_sources->elts;

    for (i = 0; i < omcf->key_sources->nelts; i++) {
#if (NGX_THREADS)
        if (keys[i]->fetching) {
            ngx_http_opay_keys_orphan(keys[i], cycle->log);
        }
#endif
        opay_keys_free(keys[i]->current);
        keys[i]->current = NULL;
    }
}


/* what a request verifies with: the current set, or why there is none */

void
ngx_http_opay_keys_input(ngx_http_request_t *r, opay_input_t *in)
{
    ngx_http_opay_keys_t      *keys;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);
    keys = olcf->keys;

    if (keys == NULL) {
        return;
    }

    /* a word read without the lock: only a hint that a set is waiting */
    if (keys->sh->generation != keys->generation) {
        ngx_http_opay_keys_pick_up(keys, r->connection->log);
    }

    in->keys = keys->current;
    in->keys_failure = keys->failure;
}


/*
 * Called with the flow's answer before it is sent.  An unknown kid, or no
 * keys at all, asks for a refresh (at most one per opay_jwks_min_refresh
 * for the whole nginx); while one runs the request is parked and
 * NGX_DONE returned.  A 503 for want of keys gets its Retry-After here.
 */

ngx_int_t
ngx_http_opay_keys_wait(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step)
{
    int64_t                    wait;
    ngx_table_elt_t           *h;
    ngx_pool_cleanup_t        *cln;
    ngx_http_opay_keys_t      *keys;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);
    keys = olcf->keys;

    if (keys == NULL || step->keys_wait == OPAY_KEYS_WAIT_NONE) {
        return NGX_OK;
    }

    if (!ctx->keys_waited) {
        ctx->keys_waited = 1;

        /* the fetches that ended so far: the request waits for the next */
        ngx_http_opay_keys_pick_up(keys, r->connection->log);

        if (ngx_http_opay_keys_start(keys, 1, r->connection->log)
            == NGX_AGAIN)
        {
            cln = ngx_pool_cleanup_add(r->pool, 0);
            if (cln == NULL) {
                return NGX_ERROR;
            }

            cln->handler = ngx_http_opay_keys_unpark;
            cln->data = ctx;

            ctx->request = r;
            ctx->keys_attempts = keys->attempts;
            ctx->keys_deadline = ngx_current_msec + keys->timeout + 1000;
            ngx_queue_insert_tail(&keys->parked, &ctx->keys_queue);

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "opay: request waits for the key refresh");

            if (keys->tick.timer_set) {
                ngx_del_timer(&keys->tick);
            }

            ngx_http_opay_keys_arm(keys);

            return NGX_DONE;
        }
    }

    if (step->keys_wait == OPAY_KEYS_WAIT_NO_KEYS) {
        ngx_shmtx_lock(&keys->shpool->mutex);
        wait = opay_schedule_retry_after(&keys->sh->schedule,
                                         ngx_http_opay_keys_now());
        ngx_shmtx_unlock(&keys->shpool->mutex);

        h = ngx_http_opay_push_header(&r->headers_out.headers, "Retry-After");
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%L", wait)
                       - h->value.data;
    }

    return NGX_OK;
}


/* the URL a source is named by: the OpenID metadata's, or the JWKS' */

ngx_str_t *
ngx_http_opay_keys_url(ngx_http_opay_keys_t *keys)
{
    return keys->openid_url.len ? &keys->openid_url : &keys->jwks_url;
}


/* for opay_status: the set's age and the fetches' results, at scrape */

void
ngx_http_opay_keys_stats(ngx_http_opay_keys_t *keys, opay_key_stats_t *st)
{
    ngx_str_t                *url;
    ngx_uint_t                i;
    ngx_http_opay_keys_sh_t  *sh;

    sh = keys->sh;
    url = ngx_http_opay_keys_url(keys);

    st->url.data = (const char *) url->data;
    st->url.len = url->len;

    ngx_shmtx_lock(&keys->shpool->mutex);

    st->fetched_at = sh->doc ? sh->fetched_at : 0;
    st->refreshed_at = sh->refreshed_at;

    for (i = 0; i < OPAY_KEY_RESULTS; i++) {
        st->results[i] = sh->results[i];
    }

    ngx_shmtx_unlock(&keys->shpool->mutex);
}


/* $opay_keys_age, $opay_keys_source: of the location's fetched keys */

ngx_int_t
ngx_http_opay_keys_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_opay_keys_t      *keys;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);
    keys = olcf->keys;

    if (keys == NULL || keys->current == NULL) {
        if (data == 0 || olcf->webhook == NGX_HTTP_OPAY_NONE) {
            v->not_found = 1;
            return NGX_OK;
        }

        /* no fetched keys (yet): opay_jwks_file's, or none */

        if (olcf->jwks_file.len) {
            ngx_str_set(v, "file");

        } else {
            ngx_str_set(v, "none");
        }

        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    if (data == 0) {

        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%T", ngx_max(ngx_time() - keys->fetched_at,
                                              0))
                 - p;

    } else {
        v->data = ngx_http_opay_keys_sources[keys->source].data;
        v->len = ngx_http_opay_keys_sources[keys->source].len;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static void
ngx_http_opay_keys_tick(ngx_event_t *ev)
{
    ngx_http_opay_keys_t *keys = ev->data;

    ngx_http_opay_keys_pick_up(keys, ev->log);
    ngx_http_opay_keys_wake(keys, 0);

    if (!ngx_exiting) {
        (void) ngx_http_opay_keys_start(keys, 0, ev->log);
    }

    ngx_http_opay_keys_arm(keys);
}


/*
 * The timer keeps looking while requests are parked, even in a graceful
 * shutdown (not cancelable then): they must get their answer.
 */

static void
ngx_http_opay_keys_arm(ngx_http_opay_keys_t *keys)
{
    ngx_uint_t  idle;

    idle = ngx_queue_empty(&keys->parked);

    if (idle && (ngx_exiting || ngx_terminate || ngx_quit)) {
        return;
    }

    keys->tick.cancelable = idle;
    ngx_add_timer(&keys->tick, idle ? NGX_HTTP_OPAY_KEYS_TICK
                                    : NGX_HTTP_OPAY_KEYS_WAKE);
}


/*
 * A new document in the zone: copy it out under the lock, parse it off
 * the lock, swap it in.  Requests only ever see a whole set, and a set is
 * only freed here, on the event loop, when no request is verifying.
 */

static void
ngx_http_opay_keys_pick_up(ngx_http_opay_keys_t *keys, ngx_log_t *log)
{
    char                      err[NGX_HTTP_OPAY_KEYS_ERRLEN];
    u_char                   *copy;
    size_t                    len;
    time_t                    fetched_at;
    ngx_uint_t                generation, source, attempts;
    opay_str_t                doc;
    opay_keys_t              *set;
    ngx_http_opay_keys_sh_t  *sh;

    sh = keys->sh;
    copy = NULL;

    ngx_shmtx_lock(&keys->shpool->mutex);

    generation = sh->generation;
    attempts = sh->attempts;
    source = sh->source;
    fetched_at = sh->fetched_at;
    len = sh->doc_len;

    if (generation != keys->generation && sh->doc) {
        copy = ngx_alloc(len, log);
        if (copy) {
            ngx_memcpy(copy, sh->doc, len);
        }
    }

    ngx_shmtx_unlock(&keys->shpool->mutex);

    if (attempts != keys->attempts) {
        keys->attempts = attempts;
        ngx_http_opay_keys_set_failure(keys);
    }

    if (copy == NULL) {
        return;
    }

    doc.data = (const char *) copy;
    doc.len = len;

    set = opay_keys_load(doc, err, sizeof(err));
    ngx_free(copy);

    if (set == NULL) {
        /* checked before it was stored: only out of memory lands here */
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "opay: cannot load the shared key set: %s", err);
        return;
    }

    opay_keys_free(keys->current);
    keys->current = set;
    keys->generation = generation;
    keys->source = source;
    keys->fetched_at = fetched_at;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "opay: key set generation %ui picked up", generation);
}


/* runs parked requests again: all, or those whose fetch ended or timed out */

static void
ngx_http_opay_keys_wake(ngx_http_opay_keys_t *keys, ngx_uint_t all)
{
    ngx_int_t             rc;
    ngx_queue_t          *q, *next;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_opay_ctx_t  *ctx;

    for (q = ngx_queue_head(&keys->parked);
         q != ngx_queue_sentinel(&keys->parked);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_http_opay_ctx_t, keys_queue);

        if (!all && ctx->keys_attempts == keys->attempts
            && (ngx_msec_int_t) (ctx->keys_deadline - ngx_current_msec) > 0)
        {
            continue;
        }

        ngx_queue_remove(q);
        ctx->keys_queue.next = NULL;

        r = ctx->request;
        c = r->connection;

        ngx_http_set_log_request(c->log, r);

        rc = ngx_http_opay_restart(r, ctx);
        if (rc != NGX_DONE) {
            ngx_http_finalize_request(r, rc);
        }

        ngx_http_run_posted_requests(c);
    }
}


/*
 * Asks the shared schedule whether this worker fetches now.  NGX_AGAIN: a
 * fetch is running somewhere (maybe just started here), NGX_DECLINED: none.
 */

static ngx_int_t
ngx_http_opay_keys_start(ngx_http_opay_keys_t *keys, ngx_uint_t unknown_kid,
    ngx_log_t *log)
{
    int                        start, fetching;
    opay_refresh_t             policy;
#if (NGX_THREADS)
    ngx_http_opay_keys_job_t  *job;
    ngx_http_opay_main_conf_t *omcf;
#endif

    if (keys->fetching) {
        return NGX_AGAIN;
    }

    ngx_http_opay_keys_policy(keys, &policy);

    ngx_shmtx_lock(&keys->shpool->mutex);

    /* the fetching worker died (or was killed) without storing a result */
    if (keys->sh->schedule.fetching && keys->sh->fetcher != ngx_pid
        && kill(keys->sh->fetcher, 0) == -1 && ngx_errno == NGX_ESRCH)
    {
        keys->sh->schedule.fetching = 0;
    }

    start = opay_schedule_start(&keys->sh->schedule, &policy,
                                ngx_http_opay_keys_now(), (int) unknown_kid);
    fetching = keys->sh->schedule.fetching;

    if (start) {
        keys->sh->fetcher = ngx_pid;
    }

    ngx_shmtx_unlock(&keys->shpool->mutex);

    if (!start) {
        return fetching ? NGX_AGAIN : NGX_DECLINED;
    }

#if (NGX_THREADS)
    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_opay_module);

    job = keys->task->ctx;
    ngx_memzero(job, sizeof(ngx_http_opay_keys_job_t));

    job->keys = keys;
    job->now = ngx_time();
    ngx_http_opay_keys_source(keys, &job->source);

    keys->task->handler = ngx_http_opay_keys_fetch;
    keys->task->event.handler = ngx_http_opay_keys_fetched;
    keys->task->event.data = keys;
    keys->task->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(omcf->keys_pool, keys->task) == NGX_OK) {
        keys->fetching = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "opay: fetching keys%s",
                       unknown_kid ? " for an unknown kid" : "");
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "opay: cannot start a key refresh: thread pool is busy");
#endif

    ngx_shmtx_lock(&keys->shpool->mutex);
    opay_schedule_done(&keys->sh->schedule, &policy,
                       ngx_http_opay_keys_now(), 0, 0);
    ngx_shmtx_unlock(&keys->shpool->mutex);

    return NGX_DECLINED;
}


#if (NGX_THREADS)

/* runs in a thread: no logging, no pool allocations, no nginx state */

static void
ngx_http_opay_keys_fetch(void *data, ngx_log_t *log)
{
    ngx_http_opay_keys_job_t *job = data;

    opay_keys_fetch(&job->source, job->now, &job->result);

    /* for a worker that exits before the event loop sees the result */
    ngx_memory_barrier();
    job->done = 1;
}


static void
ngx_http_opay_keys_fetched(ngx_event_t *ev)
{
    ngx_http_opay_keys_t *keys = ev->data;

    ngx_http_opay_keys_done(keys, ev->log);

    ngx_http_opay_keys_pick_up(keys, ev->log);
    ngx_http_opay_keys_wake(keys, 0);
}


/*
 * A worker that exits (a reload, a shutdown) while its thread fetches
 * would leave the shared "fetching" flag set until it went stale, and the
 * new workers without keys that long: it waits for the thread and stores
 * the result (or, if none comes, clears the flag) so they pick it up.
 */

static void
ngx_http_opay_keys_orphan(ngx_http_opay_keys_t *keys, ngx_log_t *log)
{
    ngx_msec_t                 waited;
    ngx_http_opay_keys_job_t  *job;

    job = keys->task->ctx;

    for (waited = 0; !job->done && waited < keys->timeout * 2 + 1000;
         waited += 10)
    {
        ngx_msleep(10);
    }

    ngx_memory_barrier();

    if (job->done) {
        ngx_http_opay_keys_done(keys, log);
        return;
    }

    ngx_shmtx_lock(&keys->shpool->mutex);

    if (keys->sh->fetcher == ngx_pid) {
        keys->sh->schedule.fetching = 0;
    }

    ngx_shmtx_unlock(&keys->shpool->mutex);

    keys->fetching = 0;
}


/* the fetch ended: its result into the zone, the flag released, logged */

static void
ngx_http_opay_keys_done(ngx_http_opay_keys_t *keys, ngx_log_t *log)
{
    time_t                     age;
    opay_fetched_t            *f;
    opay_refresh_t             policy;
    ngx_http_opay_keys_sh_t   *sh;
    ngx_http_opay_keys_job_t  *job;

    job = keys->task->ctx;
    f = &job->result;
    sh = keys->sh;
    job->done = 0;

    ngx_http_opay_keys_policy(keys, &policy);

    ngx_shmtx_lock(&keys->shpool->mutex);

    if (f->ok
        && ngx_http_opay_keys_store(sh, keys->shpool, f,
                                    NGX_HTTP_OPAY_KEYS_URL)
           != NGX_OK)
    {
        opay_fetched_zone_full(f);
    }

    if (!f->ok) {
        sh->failure = f->result;
    }

    age = sh->doc ? ngx_time() - sh->fetched_at : -1;
    sh->attempts++;
    sh->refreshed_at = ngx_time();
    sh->results[f->result]++;
    opay_schedule_done(&sh->schedule, &policy, ngx_http_opay_keys_now(),
                       f->ok, (uint64_t) ngx_random());

    ngx_shmtx_unlock(&keys->shpool->mutex);

    if (f->ok) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "opay: keys refreshed from \"%*s\": kids %*s",
                      f->url.len, f->url.data, f->kids.len, f->kids.data);

        if (f->error.len) {
            ngx_log_error(NGX_LOG_ERR, log, 0, "opay: key %*s",
                          f->error.len, f->error.data);
        }

    } else if (age >= 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "opay: key refresh from \"%s\" failed: %*s; "
                      "keeping the keys fetched %T s ago",
                      keys->openid_url.len ? keys->openid_url.data
                                           : keys->jwks_url.data,
                      f->error.len, f->error.data, age);

    } else {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "opay: key refresh from \"%s\" failed: %*s; "
                      "no signing keys: requests get 503",
                      keys->openid_url.len ? keys->openid_url.data
                                           : keys->jwks_url.data,
                      f->error.len, f->error.data);
    }

    opay_fetched_free(f);
    keys->fetching = 0;
}

#endif


/* a parked request that ends early (client gone) leaves the queue */

static void
ngx_http_opay_keys_unpark(void *data)
{
    ngx_http_opay_ctx_t *ctx = data;

    if (ctx->keys_queue.next) {
        ngx_queue_remove(&ctx->keys_queue);
        ctx->keys_queue.next = NULL;
    }
}


/* the schedule's rules from the directives; a fetch that outlives twice
 * its timeout (and 5s) died with its worker */

static void
ngx_http_opay_keys_policy(ngx_http_opay_keys_t *keys, opay_refresh_t *policy)
{
    policy->refresh_ms = keys->refresh;
    policy->min_refresh_ms = keys->min_refresh;
    policy->stale_ms = keys->timeout * 2 + 5000;
}


static int64_t
ngx_http_opay_keys_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* the kind of the last failure: what a 503 for want of keys names */

static void
ngx_http_opay_keys_set_failure(ngx_http_opay_keys_t *keys)
{
    ngx_shmtx_lock(&keys->shpool->mutex);
    keys->failure = keys->sh->failure;
    ngx_shmtx_unlock(&keys->shpool->mutex);
}


/* called with the zone locked */

ngx_int_t
ngx_http_opay_keys_store(ngx_http_opay_keys_sh_t *sh,
    ngx_slab_pool_t *shpool, opay_fetched_t *f, ngx_uint_t source)
{
    u_char  *doc;

    if (sh->doc) {
        ngx_slab_free_locked(shpool, sh->doc);
        sh->doc = NULL;
        sh->doc_len = 0;
    }

    doc = ngx_slab_alloc_locked(shpool, f->document.len);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(doc, f->document.data, f->document.len);

    sh->doc = doc;
    sh->doc_len = f->document.len;
    sh->fetched_at = (time_t) f->fetched_at;
    sh->source = source;
    sh->generation++;
    sh->failure = OPAY_KEY_OK;

    return NGX_OK;
}
