
/*
 * ngx_http_opay_module: the Payments in Outlook webhooks inside nginx.
 *
 * This file is nginx plumbing only: directives, reading the body, running
 * the subrequests the core asks for, variables, sending the answer.  Every
 * decision is taken by the C++ core behind src/core/opay.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "opay.h"


#define NGX_HTTP_OPAY_NONE      0
#define NGX_HTTP_OPAY_REQUEST   1
#define NGX_HTTP_OPAY_COMPLETE  2

#define NGX_HTTP_OPAY_IN_FLIGHT 1
#define NGX_HTTP_OPAY_DONE      2

#define NGX_HTTP_OPAY_ERRLEN    512


typedef struct {
    ngx_flag_t                 complete;       /* a complete handler exists */
    size_t                     zone_size;
    ngx_shm_zone_t            *zone;
    ngx_array_t               *journals;       /* of ngx_str_t */
#if (NGX_THREADS)
    ngx_thread_pool_t         *thread_pool;    /* journal writes */
#endif
} ngx_http_opay_main_conf_t;


/* one payment's state in the shared zone, keyed by merchant and requestId */

typedef struct {
    ngx_rbtree_node_t          node;           /* key: crc32 of the key */
    ngx_queue_t                queue;          /* settled ones, oldest last */
    ngx_uint_t                 state;
    ngx_pid_t                  pid;            /* the worker charging it */
    size_t                     reply_len;
    u_char                    *reply;
    u_short                    key_len;
    u_char                     key[1];
} ngx_http_opay_node_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                settled;
} ngx_http_opay_shctx_t;


typedef struct {
    ngx_http_opay_shctx_t     *sh;
    ngx_slab_pool_t           *shpool;
} ngx_http_opay_zone_t;


typedef struct {
    ngx_uint_t                 webhook;
    ngx_str_t                  merchant_id;
    ngx_str_t                  jwks_file;
    ngx_str_t                  jwt_issuer;
    ngx_str_t                  jwt_appid;
    time_t                     jwt_leeway;
    ngx_array_t               *allowed_senders;
    ngx_uint_t                 mode;
    ngx_array_t               *networks;
    ngx_array_t               *types;
    ngx_uint_t                 request_payer;
    ngx_http_complex_value_t  *invoice_uri;
    ngx_http_complex_value_t  *shipping_uri;
    ngx_uint_t                 shipping_type;
    ngx_http_complex_value_t  *processor_uri;
    ngx_http_complex_value_t  *notify_uri;
    ngx_str_t                  journal;        /* NUL-terminated full path */
    ngx_str_t                  success_message;
    size_t                     max_body_size;
    opay_conf_t               *core;
} ngx_http_opay_loc_conf_t;


typedef struct ngx_http_opay_ctx_s  ngx_http_opay_ctx_t;

typedef struct {
    ngx_http_opay_ctx_t       *ctx;
    ngx_uint_t                 index;
    unsigned                   done:1;
} ngx_http_opay_fetch_t;


typedef struct {
    u_char                    *path;
    u_char                    *line;           /* with its newline */
    size_t                     len;
    ngx_int_t                  rc;
    ngx_err_t                  err;
} ngx_http_opay_journal_t;


struct ngx_http_opay_ctx_s {
    opay_flow_t               *flow;
    ngx_uint_t                 pending;
    ngx_str_t                  claim;          /* held in the shared zone */
    ngx_http_opay_journal_t   *journal;        /* a write in a thread */
    unsigned                   responded:1;
};


static ngx_int_t ngx_http_opay_handler(ngx_http_request_t *r);
static void ngx_http_opay_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_read_body(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *too_large);
static ngx_int_t ngx_http_opay_start(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, ngx_str_t *body, ngx_uint_t too_large);
static ngx_int_t ngx_http_opay_run(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx);
static int ngx_http_opay_claim(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step, opay_str_t *stored);
static void ngx_http_opay_settle(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
static ngx_http_opay_node_t *ngx_http_opay_lookup(ngx_http_opay_zone_t *z,
    ngx_str_t *key, uint32_t hash);
static void ngx_http_opay_release(void *data);
static ngx_int_t ngx_http_opay_journal(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_str_t line);
static void ngx_http_opay_journal_append(void *data, ngx_log_t *log);
static void ngx_http_opay_journal_done(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx);
#if (NGX_THREADS)
static void ngx_http_opay_journal_event(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_opay_fetch(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_uint_t index);
static ngx_int_t ngx_http_opay_fetch_uri(ngx_http_request_t *r,
    const opay_fetch_t *fetch, ngx_str_t *uri, ngx_str_t *args);
static ngx_int_t ngx_http_opay_subrequest_setup(ngx_http_request_t *r,
    ngx_http_request_t *sr, const opay_fetch_t *fetch);
static ngx_int_t ngx_http_opay_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_opay_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_opay_respond(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
static ngx_table_elt_t *ngx_http_opay_find_header(ngx_http_request_t *r,
    ngx_str_t *name);
static void ngx_http_opay_flow_cleanup(void *data);

static ngx_int_t ngx_http_opay_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_opay_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_opay_value(ngx_http_variable_value_t *v,
    ngx_uint_t found, opay_str_t *s);

static ngx_int_t ngx_http_opay_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_opay_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_opay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_opay_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_opay_init_module(ngx_cycle_t *cycle);
static void *ngx_http_opay_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_opay_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_opay_payment_complete(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_opay_processor(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_opay_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_opay_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_opay_build_core(ngx_conf_t *cf,
    ngx_http_opay_loc_conf_t *conf);
static ngx_int_t ngx_http_opay_add_journal(ngx_conf_t *cf,
    ngx_http_opay_loc_conf_t *conf);
static void ngx_http_opay_conf_cleanup(void *data);
static char *ngx_http_opay_payment_request(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_opay_names(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_opay_request_payer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_opay_modes[] = {
    { ngx_string("live"), 0 },
    { ngx_string("test"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_opay_shipping_types[] = {
    { ngx_string("shipping"), 0 },
    { ngx_string("delivery"), 1 },
    { ngx_string("pickup"), 2 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_opay_commands[] = {

    { ngx_string("opay_payment_request"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_opay_payment_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("opay_payment_complete"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_opay_payment_complete,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("opay_processor"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_opay_processor,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("opay_notify_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, notify_uri),
      NULL },

    { ngx_string("opay_journal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, journal),
      NULL },

    { ngx_string("opay_success_message"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, success_message),
      NULL },

    { ngx_string("opay_zone_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_opay_main_conf_t, zone_size),
      NULL },

    { ngx_string("opay_merchant_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, merchant_id),
      NULL },

    { ngx_string("opay_jwks_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_file),
      NULL },

    { ngx_string("opay_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("opay_jwt_appid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwt_appid),
      NULL },

    { ngx_string("opay_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("opay_allowed_senders"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_opay_names,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, allowed_senders),
      NULL },

    { ngx_string("opay_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, mode),
      &ngx_http_opay_modes },

    { ngx_string("opay_supported_networks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_opay_names,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, networks),
      opay_known_network },

    { ngx_string("opay_supported_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_opay_names,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, types),
      opay_known_type },

    { ngx_string("opay_request_payer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_opay_request_payer,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("opay_invoice_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, invoice_uri),
      NULL },

    { ngx_string("opay_shipping_uri"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, shipping_uri),
      NULL },

    { ngx_string("opay_shipping_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, shipping_type),
      &ngx_http_opay_shipping_types },

    { ngx_string("opay_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, max_body_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_opay_module_ctx = {
    ngx_http_opay_add_variables,           /* preconfiguration */
    ngx_http_opay_init,                    /* postconfiguration */

    ngx_http_opay_create_main_conf,        /* create main configuration */
    ngx_http_opay_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_opay_create_loc_conf,         /* create location configuration */
    ngx_http_opay_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_opay_module = {
    NGX_MODULE_V1,
    &ngx_http_opay_module_ctx,             /* module context */
    ngx_http_opay_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_opay_init_module,             /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_opay_vars[] = {

    { ngx_string("opay_event"), NULL, ngx_http_opay_variable,
      OPAY_VAR_EVENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_sub"), NULL, ngx_http_opay_variable,
      OPAY_VAR_SUB, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_sender"), NULL, ngx_http_opay_variable,
      OPAY_VAR_SENDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_request_id"), NULL, ngx_http_opay_variable,
      OPAY_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_result"), NULL, ngx_http_opay_variable,
      OPAY_VAR_RESULT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_error"), NULL, ngx_http_opay_variable,
      OPAY_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_ctx_"), NULL, ngx_http_opay_ctx_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_opay_action_authorization =
    ngx_string("Action-Authorization");


static ngx_int_t
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

static ngx_int_t
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
    ngx_str_set(&h->key, "Content-Type");
    h->value.data = (u_char *) fetch->content_type.data;
    h->value.len = fetch->content_type.len;
    h->lowcase_key = (u_char *) "content-type";
    sr->headers_in.content_type = h;

    /* set here, so that an operator cannot forget it */

    if (fetch->idempotency_key.len) {
        h = ngx_list_push(&sr->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Idempotency-Key");
        h->value.data = (u_char *) fetch->idempotency_key.data;
        h->value.len = fetch->idempotency_key.len;
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


/*
 * Exactly once across workers: a payment's key is claimed in the shared
 * zone before anything is fetched or charged.  A claim held by a worker
 * that died (SIGKILL mid-charge) is taken over: the processor's
 * Idempotency-Key makes the repeated charge a replay.
 */

static int
ngx_http_opay_claim(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step, opay_str_t *stored)
{
    int                         rc;
    size_t                      n;
    u_char                     *copy;
    uint32_t                    hash;
    ngx_str_t                   key;
    ngx_pool_cleanup_t         *cln;
    ngx_http_opay_node_t       *node;
    ngx_http_opay_zone_t       *z;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);

    if (omcf->zone == NULL || step->key.len > 65535) {
        return OPAY_CLAIM_FAILED;
    }

    z = omcf->zone->data;
    key.data = (u_char *) step->key.data;
    key.len = step->key.len;
    hash = ngx_crc32_short(key.data, key.len);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    copy = ngx_pnalloc(r->pool, key.len);
    if (cln == NULL || copy == NULL) {
        return OPAY_CLAIM_FAILED;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_opay_lookup(z, &key, hash);

    if (node && node->state == NGX_HTTP_OPAY_DONE) {
        stored->data = ngx_pnalloc(r->pool, node->reply_len);
        if (stored->data == NULL) {
            rc = OPAY_CLAIM_FAILED;
            goto done;
        }

        ngx_memcpy((u_char *) stored->data, node->reply, node->reply_len);
        stored->len = node->reply_len;
        rc = OPAY_CLAIM_DONE;
        goto done;
    }

    if (node) {
        if (node->pid == ngx_pid
            || kill(node->pid, 0) == 0 || ngx_errno != NGX_ESRCH)
        {
            rc = OPAY_CLAIM_BUSY;
            goto done;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "opay: taking over a payment whose worker %P died",
                      node->pid);
        node->pid = ngx_pid;
        rc = OPAY_CLAIM_NEW;
        goto claimed;
    }

    n = offsetof(ngx_http_opay_node_t, key) + key.len;
    node = ngx_slab_alloc_locked(z->shpool, n);

    while (node == NULL && !ngx_queue_empty(&z->sh->settled)) {
        /* make room: forget the oldest settled payments first */
        ngx_http_opay_node_t  *old;

        old = ngx_queue_data(ngx_queue_last(&z->sh->settled),
                             ngx_http_opay_node_t, queue);
        ngx_queue_remove(&old->queue);
        ngx_rbtree_delete(&z->sh->rbtree, &old->node);
        ngx_slab_free_locked(z->shpool, old->reply);
        ngx_slab_free_locked(z->shpool, old);
        node = ngx_slab_alloc_locked(z->shpool, n);
    }

    if (node == NULL) {
        rc = OPAY_CLAIM_FAILED;
        goto done;
    }

    node->node.key = hash;
    node->state = NGX_HTTP_OPAY_IN_FLIGHT;
    node->pid = ngx_pid;
    node->reply = NULL;
    node->reply_len = 0;
    node->key_len = (u_short) key.len;
    ngx_memcpy(node->key, key.data, key.len);
    ngx_queue_init(&node->queue);
    ngx_rbtree_insert(&z->sh->rbtree, &node->node);
    rc = OPAY_CLAIM_NEW;

claimed:

    /* released when the request ends unsettled (client gone, error) */

    ngx_memcpy(copy, key.data, key.len);
    ctx->claim.data = copy;
    ctx->claim.len = key.len;
    cln->handler = ngx_http_opay_release;
    cln->data = r;

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


static void
ngx_http_opay_settle(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step)
{
    uint32_t                    hash;
    ngx_str_t                   key;
    ngx_http_opay_node_t       *node;
    ngx_http_opay_zone_t       *z;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);
    z = omcf->zone->data;

    key.data = (u_char *) step->key.data;
    key.len = step->key.len;
    hash = ngx_crc32_short(key.data, key.len);

    ngx_str_null(&ctx->claim);

    ngx_shmtx_lock(&z->shpool->mutex);

    node = ngx_http_opay_lookup(z, &key, hash);

    if (node && node->state == NGX_HTTP_OPAY_IN_FLIGHT) {

        if (step->store) {
            node->reply = ngx_slab_alloc_locked(z->shpool, step->data.len);
        }

        if (step->store && node->reply) {
            ngx_memcpy(node->reply, step->data.data, step->data.len);
            node->reply_len = step->data.len;
            node->state = NGX_HTTP_OPAY_DONE;
            ngx_queue_insert_head(&z->sh->settled, &node->queue);

        } else {
            if (step->store) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "opay: zone full, outcome not kept for replay; "
                              "a retry asks the processor again");
            }

            ngx_rbtree_delete(&z->sh->rbtree, &node->node);
            ngx_slab_free_locked(z->shpool, node);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


static ngx_http_opay_node_t *
ngx_http_opay_lookup(ngx_http_opay_zone_t *z, ngx_str_t *key, uint32_t hash)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t     *node, *sentinel;
    ngx_http_opay_node_t  *n;

    node = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_http_opay_node_t *) node;
        rc = ngx_memn2cmp(key->data, n->key, key->len, n->key_len);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_opay_release(void *data)
{
    ngx_http_request_t *r = data;

    opay_step_t           step;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_opay_module);

    if (ctx == NULL || ctx->claim.len == 0) {
        return;
    }

    ngx_memzero(&step, sizeof(opay_step_t));
    step.key.data = (const char *) ctx->claim.data;
    step.key.len = ctx->claim.len;

    ngx_http_opay_settle(r, ctx, &step);
}


/*
 * One line appended and flushed to disk before the flow goes on: the
 * record of a charge must survive a crash right after it.  The write and
 * its fdatasync() run in nginx's default thread pool, off the event loop;
 * NGX_AGAIN means the flow resumes when the thread is done.
 */

static ngx_int_t
ngx_http_opay_journal(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_str_t line)
{
    ngx_http_opay_journal_t    *j;
    ngx_http_opay_loc_conf_t   *olcf;
#if (NGX_THREADS)
    ngx_thread_task_t          *task;
    ngx_http_opay_main_conf_t  *omcf;
#endif

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_opay_module);

#if (NGX_THREADS)
    omcf = ngx_http_get_module_main_conf(r, ngx_http_opay_module);

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_opay_journal_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    j = task->ctx;
#else
    j = ngx_pcalloc(r->pool, sizeof(ngx_http_opay_journal_t));
    if (j == NULL) {
        return NGX_ERROR;
    }
#endif

    j->path = olcf->journal.data;
    j->len = line.len + 1;
    j->line = ngx_pnalloc(r->pool, j->len);
    if (j->line == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(j->line, line.data, line.len);
    j->line[line.len] = '\n';
    j->rc = NGX_ERROR;

    ctx->journal = j;

#if (NGX_THREADS)
    task->handler = ngx_http_opay_journal_append;
    task->event.handler = ngx_http_opay_journal_event;
    task->event.data = r;

    if (omcf->thread_pool
        && ngx_thread_task_post(omcf->thread_pool, task) == NGX_OK)
    {
        r->main->blocked++;
        r->aio = 1;
        return NGX_AGAIN;
    }

    /* no thread (pool full): the journal failed, nothing is charged */
#else
    ngx_http_opay_journal_append(j, r->connection->log);
#endif

    ngx_http_opay_journal_done(r, ctx);

    return NGX_OK;
}


/* runs in a thread: no logging, no pool allocations */

static void
ngx_http_opay_journal_append(void *data, ngx_log_t *log)
{
    ngx_http_opay_journal_t *j = data;

    ssize_t   n;
    ngx_fd_t  fd;

    fd = ngx_open_file(j->path, NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN,
                       0640);
    if (fd == NGX_INVALID_FILE) {
        j->err = ngx_errno;
        return;
    }

    n = ngx_write_fd(fd, j->line, j->len);

    if (n != (ssize_t) j->len) {
        j->err = (n == -1) ? ngx_errno : NGX_ENOSPC;

    } else if (fdatasync(fd) == -1) {
        j->err = ngx_errno;

    } else {
        j->rc = NGX_OK;
    }

    ngx_close_file(fd);
}


static void
ngx_http_opay_journal_done(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx)
{
    opay_str_t                 none;
    ngx_http_opay_journal_t   *j;

    j = ctx->journal;
    ctx->journal = NULL;

    if (j->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, j->err,
                      "opay: cannot write journal \"%s\"", j->path);
    }

    none.data = NULL;
    none.len = 0;
    opay_flow_resolve(ctx->flow, j->rc == NGX_OK ? 0 : -1, none);
}


#if (NGX_THREADS)

static void
ngx_http_opay_journal_event(ngx_event_t *ev)
{
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_opay_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    ctx = ngx_http_get_module_ctx(r, ngx_http_opay_module);

    ngx_http_opay_journal_done(r, ctx);

    rc = ngx_http_opay_run(r, ctx);
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}

#endif


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


static ngx_int_t
ngx_http_opay_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    opay_str_t            s;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_opay_module);

    return ngx_http_opay_value(v, ctx && ctx->flow
                                  && opay_flow_var(ctx->flow,
                                                   (opay_var_e) data, &s),
                               &s);
}


static ngx_int_t
ngx_http_opay_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *name = (ngx_str_t *) data;

    opay_str_t            field, s;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_opay_module);

    field.data = (const char *) name->data + sizeof("opay_ctx_") - 1;
    field.len = name->len - (sizeof("opay_ctx_") - 1);

    return ngx_http_opay_value(v, ctx && ctx->flow
                                  && opay_flow_ctx(ctx->flow, field, &s),
                               &s);
}


static ngx_int_t
ngx_http_opay_value(ngx_http_variable_value_t *v, ngx_uint_t found,
    opay_str_t *s)
{
    if (!found) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = (u_char *) s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_opay_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_opay_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_opay_init(ngx_conf_t *cf)
{
    ngx_str_t                   name = ngx_string("opay_payments");
    ngx_http_opay_zone_t       *z;
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);

    if (!omcf->complete) {
        return NGX_OK;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_opay_zone_t));
    if (z == NULL) {
        return NGX_ERROR;
    }

    omcf->zone = ngx_shared_memory_add(cf, &name, omcf->zone_size,
                                       &ngx_http_opay_module);
    if (omcf->zone == NULL) {
        return NGX_ERROR;
    }

    omcf->zone->init = ngx_http_opay_init_zone;
    omcf->zone->data = z;

#if (NGX_THREADS)
    if (omcf->journals) {
        omcf->thread_pool = ngx_thread_pool_add(cf, NULL);
        if (omcf->thread_pool == NULL) {
            return NGX_ERROR;
        }
    }
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_opay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_opay_zone_t  *ozone = data;

    size_t                 len;
    ngx_http_opay_zone_t  *z;

    z = shm_zone->data;

    if (ozone) {
        /* reload: keep every payment's state */
        z->sh = ozone->sh;
        z->shpool = ozone->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_opay_shctx_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_http_opay_rbtree_insert_value);
    ngx_queue_init(&z->sh->settled);

    len = sizeof(" in opay zone \"\"") + shm_zone->shm.name.len;

    z->shpool->log_ctx = ngx_slab_alloc(z->shpool, len);
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in opay zone \"%V\"%Z",
                &shm_zone->shm.name);

    z->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_opay_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t     **p;
    ngx_http_opay_node_t   *n, *t;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            n = (ngx_http_opay_node_t *) node;
            t = (ngx_http_opay_node_t *) temp;

            p = (ngx_memn2cmp(n->key, t->key, n->key_len, t->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Runs in the master (as root, under nginx -t too): every journal must be
 * writable by the workers, or the configuration is refused.
 */

static ngx_int_t
ngx_http_opay_init_module(ngx_cycle_t *cycle)
{
    ngx_fd_t                    fd;
    ngx_str_t                  *path;
    ngx_uint_t                  i;
    ngx_core_conf_t            *ccf;
    ngx_http_opay_main_conf_t  *omcf;

    if (ngx_http_cycle_get_module_main_conf(cycle, ngx_http_module) == NULL) {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_opay_module);
    if (omcf == NULL || omcf->journals == NULL) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    path = omcf->journals->elts;

    for (i = 0; i < omcf->journals->nelts; i++) {
        fd = ngx_open_file(path[i].data, NGX_FILE_APPEND,
                           NGX_FILE_CREATE_OR_OPEN, 0640);
        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "opay_journal \"%s\" cannot be opened",
                          path[i].data);
            return NGX_ERROR;
        }

        if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
            && fchown(fd, ccf->user, -1) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "opay_journal \"%s\": chown() failed",
                          path[i].data);
            ngx_close_file(fd);
            return NGX_ERROR;
        }

        ngx_close_file(fd);
    }

    return NGX_OK;
}


static void *
ngx_http_opay_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_opay_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    omcf->zone_size = NGX_CONF_UNSET_SIZE;

    return omcf;
}


static char *
ngx_http_opay_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_opay_main_conf_t *omcf = conf;

    ngx_conf_init_size_value(omcf->zone_size, 10 * 1024 * 1024);

    if (omcf->zone_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"opay_zone_size\" is too small");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_opay_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_opay_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_opay_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->webhook = NGX_HTTP_OPAY_NONE;
     *     conf->merchant_id = { 0, NULL };
     *     conf->jwks_file = { 0, NULL };
     *     conf->jwt_issuer = { 0, NULL };
     *     conf->jwt_appid = { 0, NULL };
     *     conf->journal = { 0, NULL };
     *     conf->success_message = { 0, NULL };
     *     conf->core = NULL;
     */

    conf->jwt_leeway = NGX_CONF_UNSET;
    conf->allowed_senders = NGX_CONF_UNSET_PTR;
    conf->mode = NGX_CONF_UNSET_UINT;
    conf->networks = NGX_CONF_UNSET_PTR;
    conf->types = NGX_CONF_UNSET_PTR;
    conf->request_payer = NGX_CONF_UNSET_UINT;
    conf->invoice_uri = NGX_CONF_UNSET_PTR;
    conf->shipping_uri = NGX_CONF_UNSET_PTR;
    conf->shipping_type = NGX_CONF_UNSET_UINT;
    conf->processor_uri = NGX_CONF_UNSET_PTR;
    conf->notify_uri = NGX_CONF_UNSET_PTR;
    conf->max_body_size = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_opay_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_opay_loc_conf_t *prev = parent;
    ngx_http_opay_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->merchant_id, prev->merchant_id, "");
    ngx_conf_merge_str_value(conf->jwks_file, prev->jwks_file, "");
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer,
                             "https://substrate.office.com/sts/");
    ngx_conf_merge_str_value(conf->jwt_appid, prev->jwt_appid,
                             "48af08dc-f6d2-435f-b2a7-069abd99c086");
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 300);
    ngx_conf_merge_ptr_value(conf->allowed_senders, prev->allowed_senders,
                             NULL);
    ngx_conf_merge_uint_value(conf->mode, prev->mode, 0);
    ngx_conf_merge_ptr_value(conf->networks, prev->networks, NULL);
    ngx_conf_merge_ptr_value(conf->types, prev->types, NULL);
    ngx_conf_merge_uint_value(conf->request_payer, prev->request_payer, 0);
    ngx_conf_merge_ptr_value(conf->invoice_uri, prev->invoice_uri, NULL);
    ngx_conf_merge_ptr_value(conf->shipping_uri, prev->shipping_uri, NULL);
    ngx_conf_merge_uint_value(conf->shipping_type, prev->shipping_type, 0);
    ngx_conf_merge_ptr_value(conf->processor_uri, prev->processor_uri, NULL);
    ngx_conf_merge_ptr_value(conf->notify_uri, prev->notify_uri, NULL);
    ngx_conf_merge_str_value(conf->journal, prev->journal, "");
    ngx_conf_merge_str_value(conf->success_message, prev->success_message,
                             "");
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              64 * 1024);

    if (conf->webhook == NGX_HTTP_OPAY_NONE) {
        return NGX_CONF_OK;
    }

    if (conf->invoice_uri == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"opay_invoice_uri\" is not set for \"%s\"",
                           conf->webhook == NGX_HTTP_OPAY_COMPLETE
                           ? "opay_payment_complete" : "opay_payment_request");
        return NGX_CONF_ERROR;
    }

    if (conf->webhook == NGX_HTTP_OPAY_COMPLETE) {
        if (conf->processor_uri == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"opay_processor\" is not set for "
                               "\"opay_payment_complete\"");
            return NGX_CONF_ERROR;
        }

        if (conf->journal.len) {
            if (ngx_http_opay_add_journal(cf, conf) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }
    }

    return ngx_http_opay_build_core(cf, conf);
}


static char *
ngx_http_opay_build_core(ngx_conf_t *cf, ngx_http_opay_loc_conf_t *conf)
{
    char                 err[NGX_HTTP_OPAY_ERRLEN];
    ngx_str_t           *jwks;
    opay_settings_t      s;
    ngx_pool_cleanup_t  *cln;

    static opay_str_t  default_networks[] = {
        { "visa", 4 }, { "mastercard", 10 }, { "amex", 4 }
    };
    static opay_str_t  default_types[] = { { "credit", 6 } };

    ngx_memzero(&s, sizeof(opay_settings_t));

    /* ngx_str_t and opay_str_t differ in layout: convert each */

#define ngx_http_opay_str(dst, src)                                          \
    (dst).data = (const char *) (src).data; (dst).len = (src).len

    ngx_http_opay_str(s.merchant_id, conf->merchant_id);
    ngx_http_opay_str(s.jwt_issuer, conf->jwt_issuer);

    jwks = &conf->jwks_file;
    if (jwks->len) {
        if (ngx_conf_full_name(cf->cycle, jwks, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_http_opay_str(s.jwks_file, *jwks);

    if (conf->jwt_appid.len == 3
        && ngx_strncmp(conf->jwt_appid.data, "off", 3) == 0)
    {
        s.jwt_appid_off = 1;

    } else {
        ngx_http_opay_str(s.jwt_appid, conf->jwt_appid);
    }

    s.jwt_leeway = conf->jwt_leeway;
    s.test_mode = (int) conf->mode;
    s.request_payer = (unsigned) conf->request_payer;
    s.shipping = (conf->shipping_uri != NULL);
    s.processor = (conf->processor_uri != NULL);
    s.notify = (conf->notify_uri != NULL);
    s.journal = (conf->journal.len != 0);
    ngx_http_opay_str(s.success_message, conf->success_message);
    ngx_http_opay_str(s.shipping_type,
                      ngx_http_opay_shipping_types[conf->shipping_type].name);

    if (conf->allowed_senders) {
        s.allowed_senders = conf->allowed_senders->elts;
        s.n_allowed_senders = conf->allowed_senders->nelts;
    }

    if (conf->networks) {
        s.networks = conf->networks->elts;
        s.n_networks = conf->networks->nelts;

    } else {
        s.networks = default_networks;
        s.n_networks = sizeof(default_networks) / sizeof(opay_str_t);
    }

    if (conf->types) {
        s.types = conf->types->elts;
        s.n_types = conf->types->nelts;

    } else {
        s.types = default_types;
        s.n_types = 1;
    }

#undef ngx_http_opay_str

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->core = opay_conf_create(&s, err, sizeof(err));
    if (conf->core == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_opay_conf_cleanup;
    cln->data = conf->core;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_opay_add_journal(ngx_conf_t *cf, ngx_http_opay_loc_conf_t *conf)
{
    u_char                     *p;
    ngx_str_t                   full, *path;
    ngx_http_opay_main_conf_t  *omcf;

    full = conf->journal;

    if (ngx_conf_full_name(cf->cycle, &full, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, full.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, full.data, full.len);
    p[full.len] = '\0';
    conf->journal.data = p;
    conf->journal.len = full.len;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);

    if (omcf->journals == NULL) {
        omcf->journals = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (omcf->journals == NULL) {
            return NGX_ERROR;
        }
    }

    path = ngx_array_push(omcf->journals);
    if (path == NULL) {
        return NGX_ERROR;
    }

    *path = conf->journal;

    return NGX_OK;
}


static void
ngx_http_opay_conf_cleanup(void *data)
{
    opay_conf_free(data);
}


static char *
ngx_http_opay_set_webhook(ngx_conf_t *cf, ngx_http_opay_loc_conf_t *olcf,
    ngx_uint_t webhook)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->webhook != NGX_HTTP_OPAY_NONE) {
        return "is duplicate";
    }

    olcf->webhook = webhook;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_opay_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_opay_payment_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_opay_set_webhook(cf, conf, NGX_HTTP_OPAY_REQUEST);
}


static char *
ngx_http_opay_payment_complete(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);
    omcf->complete = 1;

    return ngx_http_opay_set_webhook(cf, conf, NGX_HTTP_OPAY_COMPLETE);
}


static char *
ngx_http_opay_processor(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_opay_loc_conf_t *olcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (olcf->processor_uri != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "stripe") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown processor \"%V\" in \"%V\": "
                           "only \"stripe\" is supported",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    olcf->processor_uri = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
    if (olcf->processor_uri == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = olcf->processor_uri;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A list of names kept as opay_str_t, checked by cmd->post (a predicate of
 * the core) when one is given.
 */

static char *
ngx_http_opay_names(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    int           (*known)(opay_str_t);
    ngx_str_t      *value;
    ngx_uint_t      i;
    opay_str_t     *name;
    ngx_array_t   **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(opay_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    known = (int (*)(opay_str_t)) cmd->post;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(*a);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = (const char *) value[i].data;
        name->len = value[i].len;

        if (known && !known(*name)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown name \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_opay_request_payer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_opay_loc_conf_t *olcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (olcf->request_payer != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    olcf->request_payer = 0;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "name") == 0) {
            olcf->request_payer |= OPAY_PAYER_NAME;

        } else if (ngx_strcmp(value[i].data, "email") == 0) {
            olcf->request_payer |= OPAY_PAYER_EMAIL;

        } else if (ngx_strcmp(value[i].data, "phone") == 0) {
            olcf->request_payer |= OPAY_PAYER_PHONE;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\": "
                               "use name, email, phone or off",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
