/*
 * The limit as a target, for the benchmarks only (never in a merchant's
 * nginx): in the access phase, one raw RSA-2048 PKCS#1 v1.5 verify of the
 * bearer token's signature over its first two parts, with a context made
 * once per location; nothing else. A location with it and a plain
 * proxy_pass is "proxy_pass + one verify" measured, not summed.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>


typedef struct {
    EVP_PKEY_CTX  *ctx;
} ngx_http_bench_verify_loc_conf_t;


static ngx_int_t ngx_http_bench_verify_handler(ngx_http_request_t *r);
static void *ngx_http_bench_verify_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_bench_verify_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_bench_verify_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_bench_verify_cleanup(void *data);
static ngx_int_t ngx_http_bench_verify_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_bench_verify_commands[] = {

    { ngx_string("bench_verify_key"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_bench_verify_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_bench_verify_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_bench_verify_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_bench_verify_create_loc_conf, /* create location configuration */
    ngx_http_bench_verify_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_bench_verify_module = {
    NGX_MODULE_V1,
    &ngx_http_bench_verify_module_ctx,     /* module context */
    ngx_http_bench_verify_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_bench_verify_handler(ngx_http_request_t *r)
{
    u_char                            *p, *dot, md[SHA256_DIGEST_LENGTH];
    ngx_str_t                          token, encoded, sig;
    ngx_table_elt_t                   *h;
    ngx_http_bench_verify_loc_conf_t  *vlcf;
    u_char                             buf[512];

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_bench_verify_module);

    if (vlcf->ctx == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= sizeof("Bearer ") - 1
        || ngx_strncmp(h->value.data, "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    token.data = h->value.data + sizeof("Bearer ") - 1;
    token.len = h->value.len - (sizeof("Bearer ") - 1);

    dot = NULL;

    for (p = token.data + token.len; p > token.data; p--) {
        if (p[-1] == '.') {
            dot = p - 1;
            break;
        }
    }

    if (dot == NULL) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    encoded.data = dot + 1;
    encoded.len = token.data + token.len - encoded.data;

    if (ngx_base64_decoded_length(encoded.len) > sizeof(buf)) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    sig.data = buf;

    if (ngx_decode_base64url(&sig, &encoded) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    SHA256(token.data, dot - token.data, md);

    if (EVP_PKEY_verify(vlcf->ctx, sig.data, sig.len, md, sizeof(md)) != 1)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    return NGX_DECLINED;
}


static void *
ngx_http_bench_verify_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_bench_verify_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bench_verify_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->ctx = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_bench_verify_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_bench_verify_loc_conf_t  *prev = parent;
    ngx_http_bench_verify_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->ctx, prev->ctx, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_bench_verify_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bench_verify_loc_conf_t *vlcf = conf;

    BIO                 *bio;
    EVP_PKEY            *pkey;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (vlcf->ctx != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) value[1].data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot open \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an RSA private key in PEM",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    vlcf->ctx = EVP_PKEY_CTX_new(pkey, NULL);
    EVP_PKEY_free(pkey);

    if (vlcf->ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_CTX_free(vlcf->ctx);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_bench_verify_cleanup;
    cln->data = vlcf->ctx;

    if (EVP_PKEY_verify_init(vlcf->ctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(vlcf->ctx, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_CTX_set_signature_md(vlcf->ctx, EVP_sha256()) != 1)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_bench_verify_cleanup(void *data)
{
    EVP_PKEY_CTX_free(data);
}


static ngx_int_t
ngx_http_bench_verify_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_bench_verify_handler;

    return NGX_OK;
}
