
/*
 * ngx_http_opay_handler.c: one webhook request, from the content handler
 * to the answer.  Reads the body, starts the core's flow, runs its steps
 * (claims and settling in ngx_http_opay_zone.c, journal lines in
 * ngx_http_opay_journal.c, subrequests in ngx_http_opay_subrequest.c),
 * resumes when they finish, and sends the core's answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


static void ngx_http_opay_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_read_body(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *too_large);
static ngx_int_t ngx_http_opay_start(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, ngx_str_t *body, ngx_uint_t too_large);
static ngx_int_t ngx_http_opay_respond(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
static ngx_table_elt_t *ngx_http_opay_find_header(ngx_http_request_t *r,
    ngx_str_t *name);
static void ngx_http_opay_flow_cleanup(void *data);
static void ngx_http_opay_terminated(void *data);


static ngx_str_t  ngx_http_opay_action_authorization =
    ngx_string("Action-Authorization");


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
