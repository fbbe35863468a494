
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


typedef struct {
    ngx_http_opay_ctx_t       *ctx;
    ngx_uint_t                 index;
    unsigned                   done:1;
} ngx_http_opay_fetch_t;


static void ngx_http_opay_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_read_body(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *too_large);
static ngx_int_t ngx_http_opay_start(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, ngx_str_t *body, ngx_uint_t too_large);
static ngx_int_t ngx_http_opay_fetch(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_uint_t index);
static ngx_int_t ngx_http_opay_fetch_uri(ngx_http_request_t *r,
    const opay_fetch_t *fetch, ngx_str_t *uri, ngx_str_t *args);
static ngx_int_t ngx_http_opay_subrequest_setup(ngx_http_request_t *r,
    ngx_http_request_t *sr, const opay_fetch_t *fetch);
static ngx_int_t ngx_http_opay_pool_str(ngx_pool_t *pool, ngx_str_t *dst,
    const opay_str_t *src);
static ngx_int_t ngx_http_opay_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_opay_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_respond(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
static ngx_table_elt_t *ngx_http_opay_find_header(ngx_http_request_t *r,
    ngx_str_t *name);
static void ngx_http_opay_flow_cleanup(void *data);


static ngx_str_t  ngx_http_opay_action_authorization =
    ngx_string("Action-Authorization");


ngx_int_t
ngx_http_opay_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_opay_ctx_t       *ctx;
    ngx_http_opay_loc_conf_t  *olcf;

    if (r != r->main) {
        return NGX_HTTP_NOT_FOUND;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_opay_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_opay_module);

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
    opay_input_t               in;
    ngx_table_elt_t           *h;
    ngx_pool_cleanup_t        *cln;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

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

    return ngx_http_opay_run(r, ctx);
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
    ngx_http_post_subrequest_t  *ps;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_opay_fetch_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (f == NULL || ps == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->index = index;

    if (ngx_http_opay_fetch_uri(r, fetch, &uri, &args) != NGX_OK) {
        /* counted as a failed fetch: the core answers 502 */
        f->done = 1;
        ctx->pending--;
        none.data = NULL;
        none.len = 0;
        opay_flow_feed(ctx->flow, index, OPAY_FETCH_FAILED, none);
        return NGX_OK;
    }

    ps->handler = ngx_http_opay_fetch_done;
    ps->data = f;

    if (ngx_http_subrequest(r, &uri, args.len ? &args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_opay_subrequest_setup(r, sr, fetch);
}


static ngx_int_t
ngx_http_opay_fetch_uri(ngx_http_request_t *r, const opay_fetch_t *fetch,
    ngx_str_t *uri, ngx_str_t *args)
{
    ngx_uint_t                 flags;
    ngx_http_opay_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

    ngx_http_complex_value_t  *cv;

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

    if (ngx_http_complex_value(r, cv, uri) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(args);
    flags = NGX_HTTP_LOG_UNSAFE;

    /* productContext values end up in the URI: no "..", no NUL */

    if (uri->len == 0 || uri->data[0] != '/'
        || ngx_http_parse_unsafe_uri(r, uri, args, &flags) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "opay: unsafe subrequest URI \"%V\"", uri);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A subrequest shares the parent's headers and body: give it its own header
 * list without the payer's bearer token and the webhook body's headers,
 * and the core's method and body.
 */

static ngx_int_t
ngx_http_opay_subrequest_setup(ngx_http_request_t *r, ngx_http_request_t *sr,
    const opay_fetch_t *fetch)
{
    ngx_buf_t                *b;
    ngx_uint_t                i;
    ngx_chain_t              *cl;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h, *copy;
    ngx_http_request_body_t  *rb;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
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

        if ((h[i].key.len == sizeof("Authorization") - 1
             && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                                h[i].key.len) == 0)
            || (h[i].key.len == ngx_http_opay_action_authorization.len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_http_opay_action_authorization.data,
                                   h[i].key.len) == 0)
            || (h[i].key.len == sizeof("Content-Length") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Length",
                                   h[i].key.len) == 0)
            || (h[i].key.len == sizeof("Content-Type") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Type",
                                   h[i].key.len) == 0)
            || (h[i].key.len == sizeof("Transfer-Encoding") - 1
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "Transfer-Encoding",
                                   h[i].key.len) == 0))
        {
            continue;
        }

        copy = ngx_list_push(&sr->headers_in.headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    sr->headers_in.authorization = NULL;
    sr->headers_in.content_type = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.chunked = 0;
    sr->request_body = NULL;
    sr->header_only = 0;

    if (!fetch->post) {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
        return NGX_OK;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    /* 1.23+ chains same-named headers through next, and reads the chain */
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Content-Type");
    if (ngx_http_opay_pool_str(r->pool, &h->value, &fetch->content_type)
        != NGX_OK)
    {
        return NGX_ERROR;
    }
    h->lowcase_key = (u_char *) "content-type";
    sr->headers_in.content_type = h;

    /* set here, so that an operator cannot forget it */

    if (fetch->idempotency_key.len) {
        h = ngx_list_push(&sr->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "Idempotency-Key");
        if (ngx_http_opay_pool_str(r->pool, &h->value,
                                   &fetch->idempotency_key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
        h->lowcase_key = (u_char *) "idempotency-key";
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_create_temp_buf(r->pool, fetch->body.len ? fetch->body.len : 1);
    cl = ngx_alloc_chain_link(r->pool);
    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, fetch->body.data, fetch->body.len);
    b->last_buf = 1;
    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;
    rb->buf = b;

    sr->request_body = rb;
    sr->headers_in.content_length_n = fetch->body.len;

    return NGX_OK;
}


/*
 * The core's strings live until its next step, the request's headers until
 * the request ends: nginx reads them later (cached variables, which a
 * request's subrequests share, and the access log).
 */

static ngx_int_t
ngx_http_opay_pool_str(ngx_pool_t *pool, ngx_str_t *dst,
    const opay_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(pool, src->len ? src->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_opay_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_opay_fetch_t  *f = data;

    int                   status;
    ngx_uint_t            failed;
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

    failed = (rc == NGX_ERROR || sr->connection->error);

    if (failed) {
        status = OPAY_FETCH_FAILED;

    } else if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        status = (int) rc;

    } else {
        status = (int) sr->headers_out.status;

        if (sr->out && sr->out->buf) {
            body.data = (const char *) sr->out->buf->pos;
            body.len = sr->out->buf->last - sr->out->buf->pos;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "opay fetch %ui done: %d", f->index, status);

    ctx->pending--;
    opay_flow_feed(ctx->flow, f->index, status, body);

    /*
     * NGX_ERROR from an in-memory subrequest ("too big subrequest
     * response") marks the shared client connection as failed and would
     * terminate the main request.  While fetches run nothing is written to
     * the client, so the flag can only come from the subrequest's own
     * filters: clear it and let the core answer with a clear 502.
     */

    if (failed) {
        sr->connection->error = 0;
        return NGX_OK;
    }

    return rc;
}


static void
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
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
        r->headers_out.www_authenticate = h;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, step->body.len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, step->body.data, step->body.len);
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
