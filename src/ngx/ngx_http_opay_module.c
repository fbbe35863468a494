
/*
 * ngx_http_opay_module: the Payments in Outlook webhooks inside nginx.
 *
 * This file is the module itself: its directives, the main and location
 * configurations (create, merge, checks), the core's configuration built
 * from them, the shared zone and thread pool added at postconfiguration,
 * and each worker's arenas for request bodies.  Every decision is taken
 * by the C++ core behind include/opay.h; the request itself is run by
 * ngx_http_opay_handler.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


#define NGX_HTTP_OPAY_ERRLEN    512

/*
 * The arenas a worker's flows parse request bodies into (opay.h).  Eight:
 * a flow holds one across its subrequests, so as many flows as are in
 * flight at once in a worker; past that a flow gets a fresh pool, as
 * without arenas.  Each is made on first need, so a worker that sees one
 * call at a time makes one.  Each holds five times the largest
 * opay_max_body_size: the body's text copy and its parsed values took
 * 4.2 times a 64 KiB body of small objects (the benchmark's), 2.4 times
 * one of long strings.  At most 1 MiB each: a larger body spills into the
 * pool's 4 KiB chunks, which works, only slower.
 */
#define NGX_HTTP_OPAY_ARENAS          8
#define NGX_HTTP_OPAY_ARENA_FACTOR    5
#define NGX_HTTP_OPAY_ARENA_MAX       (1024 * 1024)


static ngx_int_t ngx_http_opay_init(ngx_conf_t *cf);
static void *ngx_http_opay_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_opay_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_opay_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_opay_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_opay_build_core(ngx_conf_t *cf,
    ngx_http_opay_loc_conf_t *conf);
static ngx_int_t ngx_http_opay_add_journal(ngx_conf_t *cf,
    ngx_http_opay_loc_conf_t *conf);
static void ngx_http_opay_conf_cleanup(void *data);
static ngx_int_t ngx_http_opay_init_process(ngx_cycle_t *cycle);
static void ngx_http_opay_exit_process(ngx_cycle_t *cycle);


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


static ngx_http_opay_names_post_t  ngx_http_opay_networks_post =
    { ngx_http_opay_names_check, opay_known_network };


static ngx_http_opay_names_post_t  ngx_http_opay_types_post =
    { ngx_http_opay_names_check, opay_known_type };


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

    { ngx_string("opay_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_opay_status,
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

    { ngx_string("opay_jwks_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_url),
      NULL },

    { ngx_string("opay_openid_configuration"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, openid_url),
      NULL },

    { ngx_string("opay_jwks_ca_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_ca_file),
      NULL },

    { ngx_string("opay_jwks_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_cache),
      NULL },

    { ngx_string("opay_jwks_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_max_size),
      NULL },

    { ngx_string("opay_jwks_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_refresh),
      NULL },

    { ngx_string("opay_jwks_min_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_min_refresh),
      NULL },

    { ngx_string("opay_jwks_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwks_timeout),
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

    { ngx_string("opay_jwt_version"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, jwt_version),
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
      &ngx_http_opay_networks_post },

    { ngx_string("opay_supported_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_opay_names,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_opay_loc_conf_t, types),
      &ngx_http_opay_types_post },

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
    ngx_http_opay_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_opay_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_opay_init(ngx_conf_t *cf)
{
    ngx_str_t                   name = ngx_string("opay_payments");
    ngx_http_opay_zone_t       *z;
    ngx_http_opay_main_conf_t  *omcf;

    if (ngx_http_opay_init_filter(cf) != NGX_OK) {
        return NGX_ERROR;
    }

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
     *     conf->jwt_version = { 0, NULL };
     *     conf->journal = { 0, NULL };
     *     conf->jwks_url = { 0, NULL };
     *     conf->openid_url = { 0, NULL };
     *     conf->jwks_ca_file = { 0, NULL };
     *     conf->jwks_cache = { 0, NULL };
     *     conf->keys = NULL;
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
    conf->jwks_max_size = NGX_CONF_UNSET_SIZE;
    conf->jwks_refresh = NGX_CONF_UNSET_MSEC;
    conf->jwks_min_refresh = NGX_CONF_UNSET_MSEC;
    conf->jwks_timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_opay_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_opay_loc_conf_t *prev = parent;
    ngx_http_opay_loc_conf_t *conf = child;

    ngx_http_opay_main_conf_t  *omcf;

    ngx_conf_merge_str_value(conf->merchant_id, prev->merchant_id, "");
    ngx_conf_merge_str_value(conf->jwks_file, prev->jwks_file, "");
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer,
                             OPAY_DEFAULT_JWT_ISSUER);
    ngx_conf_merge_str_value(conf->jwt_appid, prev->jwt_appid,
                             OPAY_DEFAULT_JWT_APPID);
    ngx_conf_merge_str_value(conf->jwt_version, prev->jwt_version,
                             OPAY_DEFAULT_JWT_VERSION);
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway,
                             OPAY_DEFAULT_JWT_LEEWAY);
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
    ngx_conf_merge_str_value(conf->jwks_url, prev->jwks_url, "");
    ngx_conf_merge_str_value(conf->openid_url, prev->openid_url, "");
    ngx_conf_merge_str_value(conf->jwks_ca_file, prev->jwks_ca_file, "");
    ngx_conf_merge_str_value(conf->jwks_cache, prev->jwks_cache, "");
    ngx_conf_merge_size_value(conf->jwks_max_size, prev->jwks_max_size,
                              OPAY_DEFAULT_JWKS_MAX_SIZE);
    ngx_conf_merge_msec_value(conf->jwks_refresh, prev->jwks_refresh,
                              OPAY_DEFAULT_JWKS_REFRESH);
    ngx_conf_merge_msec_value(conf->jwks_min_refresh, prev->jwks_min_refresh,
                              OPAY_DEFAULT_JWKS_MIN_REFRESH);
    ngx_conf_merge_msec_value(conf->jwks_timeout, prev->jwks_timeout,
                              OPAY_DEFAULT_JWKS_TIMEOUT);

    if (conf->webhook == NGX_HTTP_OPAY_NONE) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);
    omcf->max_body_size = ngx_max(omcf->max_body_size, conf->max_body_size);

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

    if (ngx_http_opay_keys_conf(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
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

    ngx_memzero(&s, sizeof(opay_settings_t));

    /* ngx_str_t and opay_str_t differ in layout: convert each */

#define ngx_http_opay_str(dst, src)                                          \
    do {                                                                     \
        (dst).data = (const char *) (src).data;                              \
        (dst).len = (src).len;                                               \
    } while (0)

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

    if (conf->jwt_version.len == 3
        && ngx_strncmp(conf->jwt_version.data, "off", 3) == 0)
    {
        s.jwt_version_off = 1;

    } else {
        ngx_http_opay_str(s.jwt_version, conf->jwt_version);
    }

    s.jwt_leeway = conf->jwt_leeway;
    s.test_mode = (int) conf->mode;
    s.request_payer = (unsigned) conf->request_payer;
    s.shipping = (conf->shipping_uri != NULL);
    s.processor = (conf->processor_uri != NULL);
    s.notify = (conf->notify_uri != NULL);
    s.journal = (conf->journal.len != 0);
    s.jwks_remote = (conf->keys != NULL);

    if (conf->processor_uri) {
        /* as written: part of the location's identity in the zone */
        ngx_http_opay_str(s.processor_prefix, conf->processor_uri->value);
    }

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
    }

    if (conf->types) {
        s.types = conf->types->elts;
        s.n_types = conf->types->nelts;
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

    if (ngx_http_opay_journal_conf_check(cf, p) != NGX_OK) {
        return NGX_ERROR;
    }

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


/*
 * The module's main configuration in a worker (or the single process);
 * NULL in cache manager and loader processes, which start modules too,
 * and without an http{} block
 */

ngx_http_opay_main_conf_t *
ngx_http_opay_worker_conf(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NULL;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_opay_module);
}


static ngx_int_t
ngx_http_opay_init_process(ngx_cycle_t *cycle)
{
    size_t                      size;
    ngx_http_opay_main_conf_t  *omcf;

    if (ngx_http_opay_keys_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    omcf = ngx_http_opay_worker_conf(cycle);

    /* no webhook location */
    if (omcf == NULL || omcf->max_body_size == 0) {
        return NGX_OK;
    }

    size = ngx_min(omcf->max_body_size, NGX_HTTP_OPAY_ARENA_MAX);
    size = ngx_min(size * NGX_HTTP_OPAY_ARENA_FACTOR, NGX_HTTP_OPAY_ARENA_MAX);

    omcf->arenas = opay_arenas_create(NGX_HTTP_OPAY_ARENAS, size);

    if (omcf->arenas == NULL) {
        /* the flows still work, each in a fresh pool */
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "opay: no memory for the request body arenas");
        return NGX_OK;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "opay arenas: at most %d of %uz bytes",
                   NGX_HTTP_OPAY_ARENAS, size);

    return NGX_OK;
}


static void
ngx_http_opay_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_opay_main_conf_t  *omcf;

    ngx_http_opay_keys_exit_process(cycle);

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_opay_module);

    if (omcf == NULL) {
        return;
    }

    /* a flow still alive (fast shutdown) keeps its arena's set alive */
    opay_arenas_free(omcf->arenas);
    omcf->arenas = NULL;
}
