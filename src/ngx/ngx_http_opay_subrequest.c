
/*
 * ngx_http_opay_subrequest.c: the subrequests a flow asks for.  Each gets
 * its URI from the configuration with the $opay_* values escaped (checked
 * by the core), an allow-list of headers and the core's body; its answer
 * is collected by the module's body filter up to a limit and fed back to
 * the flow.
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


/*
 * What a subrequest is given instead of its parent's: made whole before
 * the subrequest exists, so that once it does nothing can fail half-way
 * and send it out with the caller's headers and body, or as a POST
 * without its key or body (a confirm).
 */

typedef struct {
    ngx_http_headers_in_t       headers_in;
    ngx_http_request_body_t    *body;
    ngx_http_variable_value_t  *variables;
    unsigned                    post:1;
} ngx_http_opay_prepared_t;


/* any Stripe answer up to this is read, whatever the location says */
#define NGX_HTTP_OPAY_PROCESSOR_MAX   (1024 * 1024)

/* the header lines of one backend answer, all together */
#define NGX_HTTP_OPAY_HEADERS_MAX     (16 * 1024)


static ngx_int_t ngx_http_opay_fetch_uri(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_str_t *uri,
    ngx_str_t *args);
static ngx_int_t ngx_http_opay_subrequest_prepare(ngx_http_request_t *r,
    const opay_fetch_t *fetch, ngx_http_opay_prepared_t *p);
static void ngx_http_opay_subrequest_apply(ngx_http_request_t *sr,
    ngx_http_opay_prepared_t *p);
static ngx_table_elt_t *ngx_http_opay_set_header(ngx_http_request_t *r,
    ngx_http_headers_in_t *hi, char *key, char *lowcase, u_char *value,
    size_t len);
static int ngx_http_opay_replayed(ngx_http_request_t *sr,
    opay_target_e target);
static ngx_int_t ngx_http_opay_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static size_t ngx_http_opay_headers_size(ngx_http_request_t *sr);


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


ngx_int_t
ngx_http_opay_fetch(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    const opay_fetch_t *fetch, ngx_uint_t index)
{
    ngx_str_t                    uri, args;
    opay_str_t                   none;
    ngx_http_request_t          *sr;
    ngx_http_opay_fetch_t       *f;
    ngx_http_opay_prepared_t     prepared;
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

    ngx_memzero(&prepared, sizeof(ngx_http_opay_prepared_t));

    if (ngx_http_opay_subrequest_prepare(r, fetch, &prepared) != NGX_OK) {
        return NGX_ERROR;
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

    /* from here on nothing allocates: the subrequest is posted already */

    ngx_http_opay_subrequest_apply(sr, &prepared);

    if (fetch->target == OPAY_TARGET_PROCESSOR) {
        f->limit = NGX_HTTP_OPAY_PROCESSOR_MAX;
    }

    ngx_http_set_ctx(sr, f, ngx_http_opay_module);

    return NGX_OK;
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
 * A subrequest shares the parent's headers, body and variables.  It gets
 * its own instead: an allow-list of headers, what a backend needs and
 * nothing of the caller's (proxy adds Host and Content-Length), the core's
 * method and body, and variables of its own (a value the caller's request
 * cached, such as $http_x_tenant read by a server-level "if", must not
 * reach a backend, nor a value of the subrequest's, its User-Agent, the
 * caller's access log line).  Every value is copied into the request's
 * pool: the core's strings move on with the flow, the subrequest's access
 * log comes later.
 */

static ngx_int_t
ngx_http_opay_subrequest_prepare(ngx_http_request_t *r,
    const opay_fetch_t *fetch, ngx_http_opay_prepared_t *p)
{
    u_char                     *d;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    ngx_table_elt_t            *h;
    ngx_http_headers_in_t      *hi;
    ngx_http_request_body_t    *rb;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    p->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                        * sizeof(ngx_http_variable_value_t));
    if (p->variables == NULL) {
        return NGX_ERROR;
    }

    hi = &p->headers_in;

    if (ngx_list_init(&hi->headers, r->pool, 4, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * before 1.23.0 Cookie and X-Forwarded-For are kept in arrays of their
     * own (empty here); 1.23.0 made them linked headers like the others
     */

#if (nginx_version < 1023000)
    if (ngx_array_init(&hi->cookies, r->pool, 1, sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_array_init(&hi->x_forwarded_for, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif
#endif

    hi->content_length_n = -1;
    hi->keep_alive_n = -1;

    if (ngx_http_opay_set_header(r, hi, "Accept", "accept",
                                 (u_char *) "application/json",
                                 sizeof("application/json") - 1)
        == NULL)
    {
        return NGX_ERROR;
    }

    h = ngx_http_opay_set_header(r, hi, "User-Agent", "user-agent",
                                 (u_char *) OPAY_USER_AGENT,
                                 sizeof(OPAY_USER_AGENT) - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    hi->user_agent = h;

    if (!fetch->post) {
        return NGX_OK;
    }

    p->post = 1;

    h = ngx_http_opay_set_header(r, hi, "Content-Type", "content-type",
                                 (u_char *) fetch->content_type.data,
                                 fetch->content_type.len);
    if (h == NULL) {
        return NGX_ERROR;
    }

    hi->content_type = h;

    /* set here, so that an operator cannot forget it */

    if (fetch->idempotency_key.len
        && ngx_http_opay_set_header(r, hi, "Idempotency-Key",
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

    d = (u_char *) fetch->body.data;
    b->last = ngx_cpymem(b->last, d, fetch->body.len);
    b->last_buf = 1;
    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;
    rb->buf = b;

    p->body = rb;
    hi->content_length_n = fetch->body.len;

    return NGX_OK;
}


/* the prepared parts given to the subrequest, with nothing to allocate */

static void
ngx_http_opay_subrequest_apply(ngx_http_request_t *sr,
    ngx_http_opay_prepared_t *p)
{
    sr->variables = p->variables;

    sr->headers_in = p->headers_in;

    /*
     * a list's first part is inside it: its end moves with it (always, as
     * long as the few headers above fit in the first part)
     */

    if (p->headers_in.headers.last == &p->headers_in.headers.part) {
        sr->headers_in.headers.last = &sr->headers_in.headers.part;
    }

    sr->request_body = p->body;
    sr->header_only = 0;

    if (!p->post) {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");

    } else {
        sr->method = NGX_HTTP_POST;
        ngx_str_set(&sr->method_name, "POST");
    }
}


static ngx_table_elt_t *
ngx_http_opay_set_header(ngx_http_request_t *r, ngx_http_headers_in_t *hi,
    char *key, char *lowcase, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_http_opay_push_header(&hi->headers, key);
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
    ngx_uint_t                 known;
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

            /*
             * the answer's length when it is known (a small answer then
             * comes from the pool, not from malloc), else 4 KiB; grown by
             * doubling: one allocation for most answers
             */

            known = r->headers_out.content_length_n > 0
                    && (size_t) r->headers_out.content_length_n <= f->limit;

            grow = b ? 2 * (size_t) (b->end - b->pos) : (known ? 0 : 4096);
            size = ngx_min(ngx_max(size, grow), f->limit);

            if (known) {
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
