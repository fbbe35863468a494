
/*
 * ngx_http_opay.h: what the shim's files share -- the webhook kinds, the
 * main and location configurations, the per-request context, the shared
 * zone's handle, and the functions one file calls in another.  Private to
 * src/ngx; the C++ core is reached through opay.h only.
 */


#ifndef _NGX_HTTP_OPAY_H_INCLUDED_
#define _NGX_HTTP_OPAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "opay.h"


#define NGX_HTTP_OPAY_NONE      0
#define NGX_HTTP_OPAY_REQUEST   1
#define NGX_HTTP_OPAY_COMPLETE  2


typedef struct {
    ngx_flag_t                 complete;       /* a complete handler exists */
    size_t                     zone_size;
    ngx_shm_zone_t            *zone;
    ngx_shm_zone_t            *status_zone;    /* opay_status is used */
    ngx_array_t               *journals;       /* of ngx_str_t */
#if (NGX_THREADS)
    ngx_thread_pool_t         *thread_pool;    /* journal writes */
    ngx_thread_pool_t         *keys_pool;      /* key fetches */
#endif
    ngx_array_t               *key_sources;    /* ngx_http_opay_keys_t * */
    size_t                     max_body_size;  /* largest of the webhooks' */
    opay_arenas_t             *arenas;         /* this worker's */
} ngx_http_opay_main_conf_t;


/* one issuer key URL and its shared zone (ngx_http_opay_keys.c) */
typedef struct ngx_http_opay_keys_s  ngx_http_opay_keys_t;

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
    ngx_str_t                  jwt_version;
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
    ngx_str_t                  jwks_url;
    ngx_str_t                  openid_url;
    ngx_str_t                  jwks_ca_file;
    ngx_str_t                  jwks_cache;
    size_t                     jwks_max_size;
    ngx_msec_t                 jwks_refresh;
    ngx_msec_t                 jwks_min_refresh;
    ngx_msec_t                 jwks_timeout;
    ngx_http_opay_keys_t      *keys;
    opay_conf_t               *core;
} ngx_http_opay_loc_conf_t;


/*
 * cmd->post of a list of names, as nginx's ngx_conf_num_bounds_t: the
 * handler (ngx_http_opay_names_check) and the core's predicate it calls
 */
typedef struct {
    ngx_conf_post_handler_pt   post_handler;
    int                      (*known)(opay_str_t name);
} ngx_http_opay_names_post_t;


typedef struct ngx_http_opay_ctx_s  ngx_http_opay_ctx_t;

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
    uint64_t                   start;          /* for opay_status, in us */
    ngx_str_t                  body;           /* kept for a key retry */
    ngx_http_request_t        *request;
    ngx_queue_t                keys_queue;     /* parked for a key fetch */
    ngx_uint_t                 keys_attempts;
    ngx_msec_t                 keys_deadline;
    unsigned                   responded:1;
    unsigned                   uri_escape:1;   /* variables for a URI */
    unsigned                   keys_waited:1;
    unsigned                   terminated:1;   /* nginx ran its cleanups */
};


/* ngx_http_opay_module.c */
ngx_http_opay_main_conf_t *ngx_http_opay_worker_conf(ngx_cycle_t *cycle);

/* ngx_http_opay_directives.c */
char *ngx_http_opay_payment_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_opay_payment_complete(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_opay_processor(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_opay_names(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_opay_names_check(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_opay_request_payer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_opay_handler.c */
ngx_int_t ngx_http_opay_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_opay_run(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx);
void ngx_http_opay_resume(ngx_http_request_t *r);
ngx_int_t ngx_http_opay_restart(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx);

/* ngx_http_opay_subrequest.c */
ngx_int_t ngx_http_opay_fetch(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, const opay_fetch_t *fetch, ngx_uint_t index);
ngx_int_t ngx_http_opay_body_filter(ngx_http_request_t *r, ngx_chain_t *in);
ngx_int_t ngx_http_opay_init_filter(ngx_conf_t *cf);
ngx_table_elt_t *ngx_http_opay_push_header(ngx_list_t *headers, char *key);

/* ngx_http_opay_zone.c */
int ngx_http_opay_claim(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step, opay_str_t *stored);
void ngx_http_opay_settle(ngx_http_request_t *r, ngx_http_opay_ctx_t *ctx,
    opay_step_t *step);
ngx_int_t ngx_http_opay_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* ngx_http_opay_journal.c */
ngx_int_t ngx_http_opay_journal(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_str_t line);
ngx_int_t ngx_http_opay_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_opay_journal_conf_check(ngx_conf_t *cf, u_char *path);

/* ngx_http_opay_status.c */
void ngx_http_opay_status_respond(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, ngx_uint_t status);
void ngx_http_opay_status_fetch(ngx_http_request_t *r, ngx_uint_t target,
    uint64_t start);
uint64_t ngx_http_opay_status_clock(void);
char *ngx_http_opay_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_opay_keys_conf.c */
char *ngx_http_opay_keys_conf(ngx_conf_t *cf, ngx_http_opay_loc_conf_t *conf);

/* ngx_http_opay_keys.c */
ngx_int_t ngx_http_opay_keys_init_process(ngx_cycle_t *cycle);
void ngx_http_opay_keys_exit_process(ngx_cycle_t *cycle);
void ngx_http_opay_keys_input(ngx_http_request_t *r, opay_input_t *in);
ngx_int_t ngx_http_opay_keys_wait(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx, opay_step_t *step);
ngx_str_t *ngx_http_opay_keys_url(ngx_http_opay_keys_t *keys);
void ngx_http_opay_keys_stats(ngx_http_opay_keys_t *keys,
    opay_key_stats_t *st);
ngx_int_t ngx_http_opay_keys_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_opay_variables.c */
ngx_int_t ngx_http_opay_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_opay_module;


#endif /* _NGX_HTTP_OPAY_H_INCLUDED_ */
