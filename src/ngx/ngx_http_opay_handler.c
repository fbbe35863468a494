
/*
 * ngx_http_opay_handler.c: one webhook request, from the content handler
 * to the answer.  Reads the body, starts the core's flow, runs its steps
 * (claims and settling in ngx_http_opay_zone.c, journal lines in
 * ngx_http_opay_journal.c), makes the subrequests it asks for, resumes
 * when they finish, and sends the core's answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


/*
 * One subrequest.  Its answer is collected here by the body filter, not by
 * nginx's in-memory buffer, so that the limit is the module's and an answer
 * over it is a clear 502 instead of an error on the client's connection.
 */

typedef struct {
    ngx_http_opay_ctx_t       *ctx;
    ngx_uint_t                 index;
    opay_target_e              target;
    size_t                     limit;
    ngx_buf_t                 *body;
    uint64_t                   start;          /* for opay_status, in us */
    unsigned                   done:1;
    unsigned                   too_big:1;
} ngx_http_opay_fetch_t;


/* any Stripe answer up to this is read, whatever the location says */
#define NGX_HTTP_OPAY_PROCESSOR_MAX   (1024 * 1024)

/* the header lines of one backend answer, all together */
#define NGX_HTTP_OPAY_HEADERS_MAX     (16 * 1024)


static void ngx_http_opay_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_read_body(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *too_large);
static ngx_int_t ngx_http_opay_start(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, ngx_str_t *body, ngx_uint_t too_large);
static ngx_int_t ngx_http_opay_fetch(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_uint_t index);
static ngx_int_t ngx_http_opay_fetch_uri(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_str_t *uri,
    ngx_str_t *args);
static ngx_int_t ngx_http_opay_subrequest_setup(ngx_http_request_t *r,
    ngx_http_request_t *sr, const opay_fetch_t *fetch);
static ngx_table_elt_t *ngx_http_opay_set_header(ngx_http_request_t *r,
    ngx_http_request_t *sr, char *key, char *lowcase, u_char *value,
    size_t len);
static int ngx_http_opay_replayed(ngx_http_request_t *sr,
    opay_target_e target);
static ngx_int_t ngx_http_opay_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static size_t ngx_http_opay_headers_size(ngx_http_request_t *sr);
static ngx_int_t ngx_http_opay_respond(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
static ngx_table_elt_t *ngx_http_opay_find_header(ngx_http_request_t *r,
    ngx_str_t *name);
static void ngx_http_opay_flow_cleanup(void *data);
static void ngx_http_opay_terminated(void *data);


static ngx_str_t  ngx_http_opay_action_authorization =
    ngx_string("Action-Authorization");

static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


ngx_int_t
ngx_http_opay_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_cleanup_t        *term;
    ngx_http_opay_ctx_t       *ctx;
    ngx_http_opay_loc_conf_t  *olcf;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_opay_ctx_t));
    term = ngx_http_cleanup_add(r, 0);
    if (ctx == NULL || term == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    term->handler = ngx_http_opay_terminated;
    term->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_opay_module);

    ctx->start = ngx_http_opay_status_clock();

    if (!(r->method & NGX_HTTP_POST)
        || r->headers_in.content_length_n > (off_t) olcf->max_body_size)
    {
        /* refused before reading: the core answers 405 or 413 */

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_opay_start(r, ctx, NULL,
                                 (r->method & NGX_HTTP_POST) ? 1 : 0);
        if (rc == NGX_DONE) {
            r->main->count++;
        }

        return rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_opay_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_opay_body_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             body;
    ngx_uint_t            too_large;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_opay_module);

    if (ngx_http_opay_read_body(r, &body, &too_large) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_opay_start(r, ctx, &body, too_large);
    if (rc == NGX_DONE) {
        /* subrequests are running; ngx_http_opay_resume() finishes */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The body may sit in several buffers, or partly in a temporary file once
 * it outgrows client_body_buffer_size: gather it into one memory block.
 */

static ngx_int_t
ngx_http_opay_read_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t *too_large)
{
    off_t                      len;
    u_char                    *p;
    ssize_t                    n;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    ngx_str_null(body);
    *too_large = 0;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > (off_t) olcf->max_body_size) {
        *too_large = 1;
        return NGX_OK;
    }

    if (len == 0) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        /*
         * the usual case, one buffer in memory: it lives as long as the
         * request and the core parses a copy of what it is given
         */
        body->data = cl->buf->pos;
        body->len = (size_t) len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                    - b->file_pos),
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "opay: cannot read the request body file");
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_opay_start(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    ngx_str_t *body, ngx_uint_t too_large)
{
    opay_input_t                in;
    ngx_table_elt_t            *h;
    ngx_pool_cleanup_t         *cln;
    ngx_http_opay_loc_conf_t   *olcf;
    ngx_http_opay_main_conf_t  *omcf;
#if (NGX_DEBUG)
    size_t                      lent, made;
#endif

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);

    ngx_memzero(&in, sizeof(opay_input_t));

    in.webhook = (olcf->webhook == NGX_HTTP_OPAY_COMPLETE)
                 ? OPAY_PAYMENT_COMPLETE : OPAY_PAYMENT_REQUEST;
    in.method.data = (const char *) r->method_name.data;
    in.method.len = r->method_name.len;

    if (r->headers_in.content_type) {
        in.content_type.data =
                        (const char *) r->headers_in.content_type->value.data;
        in.content_type.len = r->headers_in.content_type->value.len;
    }

    if (r->headers_in.authorization) {
        in.authorization.data =
                       (const char *) r->headers_in.authorization->value.data;
        in.authorization.len = r->headers_in.authorization->value.len;
    }

    h = ngx_http_opay_find_header(r, &ngx_http_opay_action_authorization);
    if (h) {
        in.action_authorization.data = (const char *) h->value.data;
        in.action_authorization.len = h->value.len;
    }

    in.too_large = too_large;

    if (body) {
        in.body.data = (const char *) body->data;
        in.body.len = body->len;
    }

    in.now = ngx_time();

    ngx_http_opay_keys_input(r, &in);

    /* the body is parsed into one of the worker's arenas, if one is free */
    in.arenas = omcf->arenas;

    if (body) {
        ctx->body = *body;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->flow = opay_flow_start(olcf->core, &in);
    if (ctx->flow == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_opay_flow_cleanup;
    cln->data = ctx->flow;

#if (NGX_DEBUG)
    opay_arenas_stats(omcf->arenas, &lent, &made);
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "opay arenas: %uz lent, %uz made", lent, made);
#endif

    return ngx_http_opay_run(r, ctx);
}


/* the flow once more, from the body: the keys it waited for are in */

ngx_int_t
ngx_http_opay_restart(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx)
{
    return ngx_http_opay_start(r, ctx, &ctx->body, 0);
}


/* NGX_DONE while subrequests run; otherwise the code to finalize with */

ngx_int_t
ngx_http_opay_run(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx)
{
    int          rc;
    size_t       i;
    opay_str_t   data;
    opay_step_t  step;

    for ( ;; ) {
        opay_flow_next(ctx->flow, &step);

        data.data = NULL;
        data.len = 0;

        switch (step.kind) {

        case OPAY_STEP_RESPOND:
            if (ngx_http_opay_keys_wait(r, ctx, &step) == NGX_DONE) {
                /* ngx_http_opay_keys.c restarts it once keys are fetched */
                return NGX_DONE;
            }

            return ngx_http_opay_respond(r, ctx, &step);

        case OPAY_STEP_CLAIM:
            rc = ngx_http_opay_claim(r, ctx, &step, &data);
            opay_flow_resolve(ctx->flow, rc, data);
            continue;

        case OPAY_STEP_JOURNAL:
            if (ngx_http_opay_journal(r, ctx, step.data) == NGX_AGAIN) {
                /* ngx_http_opay_journal_event() goes on */
                return NGX_DONE;
            }

            continue;

        case OPAY_STEP_SETTLE:
            ngx_http_opay_settle(r, ctx, &step);
            opay_flow_resolve(ctx->flow, 0, data);
            continue;

        case OPAY_STEP_FETCH:
            break;
        }

        ctx->pending = step.n_fetches;
        r->write_event_handler = ngx_http_opay_resume;

        for (i = 0; i < step.n_fetches; i++) {
            if (ngx_http_opay_fetch(r, ctx, &step.fetches[i], i) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (ctx->pending) {
            return NGX_DONE;
        }

        /* every fetch failed before it started: the core has its answer */
    }
}


static ngx_int_t
ngx_http_opay_fetch(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    const opay_fetch_t *fetch, ngx_uint_t index)
{
    ngx_str_t                    uri, args;
    opay_str_t                   none;
    ngx_http_request_t          *sr;
    ngx_http_opay_fetch_t       *f;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_post_subrequest_t  *ps;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_opay_fetch_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (f == NULL || ps == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->index = index;
    f->target = fetch->target;
    f->start = ngx_http_opay_status_clock();

    if (ngx_http_opay_fetch_uri(r, ctx, fetch, &uri, &args) != NGX_OK) {
        /* counted as a failed fetch: the core answers 502 */
        f->done = 1;
        ctx->pending--;
        none.data = NULL;
        none.len = 0;
        opay_flow_feed(ctx->flow, index, OPAY_FETCH_FAILED, none, 0);
        return NGX_OK;
    }

    ps->handler = ngx_http_opay_fetch_done;
    ps->data = f;

    /*
     * In the background: the client's connection is not the subrequest's,
     * so a payer who hangs up cannot abort a charge or its notify half-way
     * (proxy_ignore_client_abort is not needed); the flow answers, or
     * finds the client gone, once every fetch is done.
     */

    if (ngx_http_subrequest(r, &uri, args.len ? &args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * Variables of its own (nginx shares the parent's): a value the caller's
     * request cached, such as $http_x_tenant read by a server-level "if",
     * must not reach a backend, nor a value of the subrequest's (its
     * User-Agent) the caller's access log line.
     */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(sr->pool, cmcf->variables.nelts
                                          * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    if (fetch->target == OPAY_TARGET_PROCESSOR) {
        f->limit = NGX_HTTP_OPAY_PROCESSOR_MAX;
    }

    ngx_http_set_ctx(sr, f, ngx_http_opay_module);

    return ngx_http_opay_subrequest_setup(r, sr, fetch);
}


/*
 * The URI with the $opay_* values in it, each percent-encoded by the
 * variables (ctx->uri_escape), then split, decoded and checked by the core
 * (opay_uri_split): a value is exactly one path segment whether proxy_pass
 * encodes $uri again (without variables) or sends it as it is
 * (proxy_pass http://$backend$uri).
 */

static ngx_int_t
ngx_http_opay_fetch_uri(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    const opay_fetch_t *fetch, ngx_str_t *uri, ngx_str_t *args)
{
    u_char                    *p, *q;
    ngx_int_t                  rc;
    ngx_str_t                  expanded;
    opay_str_t                 src, a;
    ngx_http_complex_value_t  *cv;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    switch (fetch->target) {
    case OPAY_TARGET_INVOICE:
        cv = olcf->invoice_uri;
        break;
    case OPAY_TARGET_SHIPPING:
        cv = olcf->shipping_uri;
        break;
    case OPAY_TARGET_PROCESSOR:
        cv = olcf->processor_uri;
        break;
    case OPAY_TARGET_NOTIFY:
        cv = olcf->notify_uri;
        break;
    default:
        cv = NULL;
    }

    if (cv == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "opay: no URI configured for this fetch");
        return NGX_ERROR;
    }

    ctx->uri_escape = 1;
    rc = ngx_http_complex_value(r, cv, &expanded);
    ctx->uri_escape = 0;

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * the processor's calls are below its prefix (which ends in '/', as
     * the directive checks); the core's path holds [A-Za-z0-9_/] only
     */

    if (fetch->path.len) {
        p = ngx_pnalloc(r->pool, expanded.len + fetch->path.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        q = ngx_cpymem(p, expanded.data, expanded.len);
        q = ngx_cpymem(q, fetch->path.data, fetch->path.len);

        expanded.data = p;
        expanded.len = q - p;
    }

    /* values cannot hold a '?': the first one is the configuration's */

    uri->data = ngx_pnalloc(r->pool, expanded.len ? expanded.len : 1);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    src.data = (const char *) expanded.data;
    src.len = expanded.len;

    if (opay_uri_split(src, (char *) uri->data, &uri->len, &a) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "opay: unsafe %s URI \"%*s\"",
                      opay_target_name(fetch->target),
                      ngx_min(expanded.len, 64), expanded.data);
        return NGX_ERROR;
    }

    args->data = (u_char *) a.data;
    args->len = a.len;

    return NGX_OK;
}


/*
 * A subrequest shares the parent's headers and body.  It gets its own
 * headers instead, an allow-list of what a backend needs and nothing of
 * the caller's (proxy adds Host and Content-Length), and the core's method
 * and body.  Every value is copied into the request's pool: the core's
 * strings move on with the flow, the subrequest's access log comes later.
 */

static ngx_int_t
ngx_http_opay_subrequest_setup(ngx_http_request_t *r, ngx_http_request_t *sr,
    const opay_fetch_t *fetch)
{
    u_char                   *p;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_table_elt_t          *h;
    ngx_http_request_body_t  *rb;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * before 1.23.0 Cookie and X-Forwarded-For are kept in arrays of their
     * own (empty here); 1.23.0 made them linked headers like the others
     */

#if (nginx_version < 1023000)
    if (ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_array_init(&sr->headers_in.x_forwarded_for, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif
#endif

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;
    sr->header_only = 0;

    if (ngx_http_opay_set_header(r, sr, "Accept", "accept",
                                 (u_char *) "application/json",
                                 sizeof("application/json") - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    h = ngx_http_opay_set_header(r, sr, "User-Agent", "user-agent",
                                 (u_char *) NGX_HTTP_OPAY_USER_AGENT,
                                 sizeof(NGX_HTTP_OPAY_USER_AGENT) - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    sr->headers_in.user_agent = h;

    if (!fetch->post) {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
        return NGX_OK;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    h = ngx_http_opay_set_header(r, sr, "Content-Type", "content-type",
                                 (u_char *) fetch->content_type.data,
                                 fetch->content_type.len);
    if (h == NULL) {
        return NGX_ERROR;
    }

    sr->headers_in.content_type = h;

    /* set here, so that an operator cannot forget it */

    if (fetch->idempotency_key.len
        && ngx_http_opay_set_header(r, sr, "Idempotency-Key",
                                    "idempotency-key",
                                    (u_char *) fetch->idempotency_key.data,
                                    fetch->idempotency_key.len)
           == NULL)
    {
        return NGX_ERROR;
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_create_temp_buf(r->pool, fetch->body.len ? fetch->body.len : 1);
    cl = ngx_alloc_chain_link(r->pool);
    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) fetch->body.data;
    b->last = ngx_cpymem(b->last, p, fetch->body.len);
    b->last_buf = 1;
    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;
    rb->buf = b;

    sr->request_body = rb;
    sr->headers_in.content_length_n = fetch->body.len;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_opay_set_header(ngx_http_request_t *r, ngx_http_request_t *sr,
    char *key, char *lowcase, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_http_opay_push_header(&sr->headers_in.headers, key);
    if (h == NULL) {
        return NULL;
    }

    h->lowcase_key = (u_char *) lowcase;
    h->value.data = ngx_pnalloc(r->pool, len + 1);
    if (h->value.data == NULL) {
        return NULL;
    }

    ngx_memcpy(h->value.data, value, len);
    h->value.data[len] = '\0';
    h->value.len = len;

    return h;
}


/* a header named key, its value left to the caller */

ngx_table_elt_t *
ngx_http_opay_push_header(ngx_list_t *headers, char *key)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    /* 1.23.0 links headers of one name; $content_type and co. follow it */
    h->next = NULL;
#endif

    return h;
}


/*
 * Collects the answer of one of the module's subrequests, up to its limit;
 * what goes over it is dropped and the fetch fails with a log line,
 * never with an error on the client's connection.
 */

ngx_int_t
ngx_http_opay_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                     len, size, grow;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_opay_fetch_t     *f;
    ngx_http_core_loc_conf_t  *clcf;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    f = ngx_http_get_module_ctx(r, ngx_http_opay_module);
    if (f == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (f->limit == 0) {
        /* the subrequest's own location, as nginx would have it */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        f->limit = clcf->subrequest_output_buffer_size;
    }

    for (cl = in; cl; cl = cl->next) {

        if (f->too_big || ngx_buf_special(cl->buf)) {
            continue;
        }

        len = cl->buf->last - cl->buf->pos;
        b = f->body;

        if (b == NULL || len > (size_t) (b->end - b->last)) {
            size = (b ? b->last - b->pos : 0) + len;

            if (size > f->limit) {
                f->too_big = 1;
                continue;
            }

            /* grow by doubling: one allocation for most answers */

            grow = b ? 2 * (size_t) (b->end - b->pos) : 4096;
            size = ngx_min(ngx_max(size, grow), f->limit);

            if (r->headers_out.content_length_n > 0
                && (size_t) r->headers_out.content_length_n <= f->limit)
            {
                size = ngx_max(size,
                               (size_t) r->headers_out.content_length_n);
            }

            f->body = ngx_create_temp_buf(r->pool, size);
            if (f->body == NULL) {
                return NGX_ERROR;
            }

            if (b) {
                f->body->last = ngx_cpymem(f->body->last, b->pos,
                                           b->last - b->pos);
            }

            b = f->body;
        }

        b->last = ngx_cpymem(b->last, cl->buf->pos, len);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_opay_init_filter(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_opay_body_filter;

    return NGX_OK;
}


/*
 * The processor's "Idempotent-Replayed: true": Stripe replays the stored
 * answer to the key's first request.  Only the processor's answer counts.
 */

static int
ngx_http_opay_replayed(ngx_http_request_t *sr, opay_target_e target)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (target != OPAY_TARGET_PROCESSOR) {
        return 0;
    }

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Idempotent-Replayed") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Idempotent-Replayed",
                               h[i].key.len) == 0
            && h[i].value.len == 4
            && ngx_strncasecmp(h[i].value.data, (u_char *) "true", 4) == 0)
        {
            return 1;
        }
    }
}


static ngx_int_t
ngx_http_opay_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_opay_fetch_t  *f = data;

    int                   status, replayed;
    size_t                size;
    opay_str_t            body;
    ngx_http_opay_ctx_t  *ctx;

    /* error responses re-enter finalization: take the first call only */

    if (f->done) {
        return rc;
    }

    f->done = 1;
    ctx = f->ctx;

    body.data = NULL;
    body.len = 0;

    /*
     * Idempotent-Replayed goes with the processor's own status line only:
     * a stored 5xx is one even when its body is cut; any other replayed
     * answer that nginx could not read whole is no answer
     */

    replayed = ngx_http_opay_replayed(sr, f->target);

    if (replayed
        && sr->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        && sr->headers_out.status <= 599)
    {
        status = (int) sr->headers_out.status;

    } else if (rc == NGX_ERROR || sr->connection->error) {
        replayed = 0;
        status = OPAY_FETCH_FAILED;

    } else if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        replayed = 0;
        status = (int) rc;

    } else if (f->too_big) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "opay: %s backend answer is larger than %uz bytes",
                      opay_target_name(f->target), f->limit);
        status = OPAY_FETCH_FAILED;

    } else if ((size = ngx_http_opay_headers_size(sr))
               > NGX_HTTP_OPAY_HEADERS_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "opay: %s backend answer has %uz bytes of headers, "
                      "over %uz", opay_target_name(f->target), size,
                      (size_t) NGX_HTTP_OPAY_HEADERS_MAX);
        status = OPAY_FETCH_FAILED;

    } else {
        status = (int) sr->headers_out.status;

        if (f->body) {
            body.data = (const char *) f->body->pos;
            body.len = f->body->last - f->body->pos;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "opay fetch %ui done: %d", f->index, status);

    ngx_http_opay_status_fetch(sr, f->target, f->start);

    ctx->pending--;
    opay_flow_feed(ctx->flow, f->index, status, body, replayed);

    /* a background subrequest does not wake its parent: the last one does */

    if (ctx->pending == 0
        && ngx_http_post_request(sr->parent, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return (rc == NGX_ERROR) ? NGX_OK : rc;
}


static size_t
ngx_http_opay_headers_size(ngx_http_request_t *sr)
{
    size_t            size;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    size = 0;
    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        size += h[i].key.len + sizeof(": ") - 1 + h[i].value.len
                + sizeof(CRLF) - 1;
    }

    return size;
}


void
ngx_http_opay_resume(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_opay_module);

    if (ctx == NULL || ctx->responded || ctx->pending || ctx->journal) {
        return;
    }

    rc = ngx_http_opay_run(r, ctx);
    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_opay_respond(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_uint_t        level;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    ctx->responded = 1;

    ngx_http_opay_status_respond(r, ctx, step->status);

    if (step->log_level != OPAY_LOG_NONE) {
        level = (step->log_level == OPAY_LOG_ERROR) ? NGX_LOG_ERR
                                                    : NGX_LOG_INFO;
        ngx_log_error(level, r->connection->log, 0, "opay: %*s",
                      step->log_message.len, step->log_message.data);
    }

    r->headers_out.status = step->status;
    r->headers_out.content_length_n = step->body.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (step->www_authenticate) {
        h = ngx_http_opay_push_header(&r->headers_out.headers,
                                      "WWW-Authenticate");
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
        r->headers_out.www_authenticate = h;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /*
     * the answer is sent from where the flow keeps it: the flow is freed
     * with the request's pool, after the last byte went out
     */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = (u_char *) step->body.data;
    b->last = b->pos + step->body.len;
    b->memory = step->body.len ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_table_elt_t *
ngx_http_opay_find_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


static void
ngx_http_opay_flow_cleanup(void *data)
{
    opay_flow_free(data);
}


/*
 * The request's own cleanups run when nginx terminates it (or frees it):
 * a journal write still in its thread then must not resume the flow.
 */

static void
ngx_http_opay_terminated(void *data)
{
    ngx_http_opay_ctx_t *ctx = data;

    ctx->terminated = 1;
}
