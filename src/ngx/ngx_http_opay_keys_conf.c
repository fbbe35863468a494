
/*
 * ngx_http_opay_keys_conf.c: the key sources at configuration time, one
 * per distinct URL with its shared zone (opay_jwks_url and co.), and the
 * zone's start in the master, from opay_jwks_cache; the rest of their
 * life is ngx_http_opay_keys.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"
#include "ngx_http_opay_keys.h"


static ngx_int_t ngx_http_opay_keys_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_opay_keys_http_cleanup(void *data);
static ngx_int_t ngx_http_opay_keys_cstr(ngx_conf_t *cf, ngx_str_t *dst,
    ngx_str_t *src);


/*
 * In the master: a zone kept across a reload keeps its document and
 * schedule; a new one starts from opay_jwks_cache when there is one.
 */

static ngx_int_t
ngx_http_opay_keys_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_opay_keys_t  *okeys = data;

    uid_t                     owners[2];
    size_t                    n;
    opay_source_t             src;
    ngx_file_info_t           fi;
    opay_fetched_t            f;
    ngx_core_conf_t          *ccf;
    ngx_http_opay_keys_t     *keys;
    ngx_http_opay_keys_sh_t  *sh;

    keys = shm_zone->data;

    if (okeys) {
        keys->sh = okeys->sh;
        keys->shpool = okeys->shpool;
        return NGX_OK;
    }

    keys->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        keys->sh = keys->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(keys->shpool, sizeof(ngx_http_opay_keys_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    keys->sh = sh;
    keys->shpool->data = sh;
    keys->shpool->log_nomem = 0;

    if (keys->cache.len == 0) {
        return NGX_OK;
    }

    if (ngx_file_info(keys->cache.data, &fi) == NGX_FILE_ERROR
        && ngx_errno == NGX_ENOENT)
    {
        /* the first start: nothing cached yet */
        return NGX_OK;
    }

    /* written by a worker; anyone else's file is not trusted */

    ccf = (ngx_core_conf_t *) ngx_get_conf(keys->cycle->conf_ctx,
                                           ngx_core_module);
    n = 0;
    owners[n++] = geteuid();

    if (ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        owners[n++] = ccf->user;
    }

    ngx_http_opay_keys_source(keys, &src);
    opay_keys_read_cache(&src, owners, n, &f);

    if (f.ok) {
        ngx_shmtx_lock(&keys->shpool->mutex);
        (void) ngx_http_opay_keys_store(sh, keys->shpool, &f,
                                        NGX_HTTP_OPAY_KEYS_CACHE);
        ngx_shmtx_unlock(&keys->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "opay: keys from the cache \"%V\" (fetched %T s ago "
                      "from \"%*s\"): kids %*s", &keys->cache,
                      ngx_time() - (time_t) f.fetched_at,
                      f.url.len, f.url.data, f.kids.len, f.kids.data);

    } else {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "opay: no keys from the cache: %*s",
                      f.error.len, f.error.data);
    }

    opay_fetched_free(&f);

    return NGX_OK;
}


/*
 * Configuration: the location's opay_jwks_* settings become a key source,
 * shared by every location that names the same URL with the same settings.
 */

char *
ngx_http_opay_keys_conf(ngx_conf_t *cf, ngx_http_opay_loc_conf_t *conf)
{
    char                        err[NGX_HTTP_OPAY_KEYS_ERRLEN];
    size_t                      size;
    ngx_str_t                   name, *url;
    opay_str_t                  u;
    ngx_uint_t                  i;
    ngx_pool_cleanup_t         *cln;
    ngx_http_opay_keys_t      **sources, *k;
    ngx_http_opay_main_conf_t  *omcf;

    if (conf->jwks_url.len == 0 && conf->openid_url.len == 0) {
        return NGX_CONF_OK;
    }

#if !(NGX_THREADS)
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"opay_jwks_url\" needs nginx built with threads "
                       "(--with-threads): keys are fetched in a thread");
    return NGX_CONF_ERROR;
#else

    if (conf->jwks_url.len && conf->openid_url.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"opay_jwks_url\" and "
                           "\"opay_openid_configuration\" are both set: "
                           "use one");
        return NGX_CONF_ERROR;
    }

    url = conf->jwks_url.len ? &conf->jwks_url : &conf->openid_url;
    u.data = (const char *) url->data;
    u.len = url->len;

    if (opay_url_problem(u, err, sizeof(err))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" \"%V\": %s",
                           conf->jwks_url.len ? "opay_jwks_url"
                                              : "opay_openid_configuration",
                           url, err);
        return NGX_CONF_ERROR;
    }

    if (conf->jwks_min_refresh > conf->jwks_refresh) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"opay_jwks_min_refresh\" is longer than "
                           "\"opay_jwks_refresh\"");
        return NGX_CONF_ERROR;
    }

    if (conf->jwks_ca_file.len) {
        if (ngx_conf_full_name(cf->cycle, &conf->jwks_ca_file, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (access((char *) conf->jwks_ca_file.data, R_OK) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "opay_jwks_ca_file \"%V\" cannot be read",
                               &conf->jwks_ca_file);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->jwks_cache.len) {
        if (ngx_conf_full_name(cf->cycle, &conf->jwks_cache, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);

    if (omcf->key_sources == NULL) {
        omcf->key_sources = ngx_array_create(cf->pool, 1,
                                             sizeof(ngx_http_opay_keys_t *));
        if (omcf->key_sources == NULL) {
            return NGX_CONF_ERROR;
        }

        /*
         * libcurl's global state is not thread-safe to set up: here, in
         * the master before it forks workers, once per cycle
         */

        cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        if (!opay_http_init()) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "opay: libcurl cannot be initialized");
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_opay_keys_http_cleanup;
    }

    sources = omcf->key_sources->elts;

    for (i = 0; i < omcf->key_sources->nelts; i++) {
        k = sources[i];

        if (ngx_strcmp(k->jwks_url.data, conf->jwks_url.data) != 0
            || ngx_strcmp(k->openid_url.data, conf->openid_url.data) != 0)
        {
            /* each cache records one source: two would overwrite it */
            if (conf->jwks_cache.len
                && ngx_strcmp(k->cache.data, conf->jwks_cache.data) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "opay_jwks_cache \"%V\" is used by two "
                                   "key sources, \"%V\" and \"%V\": give "
                                   "each its own", &conf->jwks_cache,
                                   ngx_http_opay_keys_url(k), url);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(k->ca_file.data, conf->jwks_ca_file.data) != 0
            || ngx_strcmp(k->cache.data, conf->jwks_cache.data) != 0
            || k->max_size != conf->jwks_max_size
            || k->refresh != conf->jwks_refresh
            || k->min_refresh != conf->jwks_min_refresh
            || k->timeout != conf->jwks_timeout)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is used with different opay_jwks_* "
                               "settings in two places", url);
            return NGX_CONF_ERROR;
        }

        conf->keys = k;
        return NGX_CONF_OK;
    }

    k = ngx_pcalloc(cf->pool, sizeof(ngx_http_opay_keys_t));
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    /* every string NUL-terminated: libcurl and the core get C strings */

    if (ngx_http_opay_keys_cstr(cf, &k->jwks_url, &conf->jwks_url) != NGX_OK
        || ngx_http_opay_keys_cstr(cf, &k->openid_url, &conf->openid_url)
           != NGX_OK
        || ngx_http_opay_keys_cstr(cf, &k->ca_file, &conf->jwks_ca_file)
           != NGX_OK
        || ngx_http_opay_keys_cstr(cf, &k->cache, &conf->jwks_cache) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    k->max_size = conf->jwks_max_size;
    k->refresh = conf->jwks_refresh;
    k->min_refresh = conf->jwks_min_refresh;
    k->timeout = conf->jwks_timeout;
    k->cycle = cf->cycle;

    /*
     * the directive in the name: the same URL as opay_jwks_url and as
     * opay_openid_configuration is two sources, each with its own zone
     */

    name.len = sizeof("opay_keys openid ") - 1 + url->len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    name.len = ngx_sprintf(name.data, "opay_keys %s %V",
                           conf->jwks_url.len ? "jwks" : "openid", url)
               - name.data;

    size = ngx_align(k->max_size + 16 * ngx_pagesize, ngx_pagesize);

    k->zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_opay_module);
    if (k->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    k->zone->init = ngx_http_opay_keys_init_zone;
    k->zone->data = k;

    omcf->keys_pool = ngx_thread_pool_add(cf, NULL);
    if (omcf->keys_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    sources = ngx_array_push(omcf->key_sources);
    if (sources == NULL) {
        return NGX_CONF_ERROR;
    }

    *sources = k;
    conf->keys = k;

    return NGX_CONF_OK;
#endif
}


void
ngx_http_opay_keys_source(ngx_http_opay_keys_t *keys, opay_source_t *src)
{
    src->jwks_url.data = (const char *) keys->jwks_url.data;
    src->jwks_url.len = keys->jwks_url.len;
    src->openid_url.data = (const char *) keys->openid_url.data;
    src->openid_url.len = keys->openid_url.len;
    src->ca_file.data = (const char *) keys->ca_file.data;
    src->ca_file.len = keys->ca_file.len;
    src->cache_path.data = (const char *) keys->cache.data;
    src->cache_path.len = keys->cache.len;
    src->max_size = keys->max_size;
    src->timeout_ms = keys->timeout;
}


/* the cycle's pool goes: its share of libcurl's global state with it */

static void
ngx_http_opay_keys_http_cleanup(void *data)
{
    opay_http_cleanup();
}


static ngx_int_t
ngx_http_opay_keys_cstr(ngx_conf_t *cf, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(cf->pool, src->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);
    dst->data[src->len] = '\0';

    return NGX_OK;
}
