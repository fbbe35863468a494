
/*
 * ngx_http_opay_directives.c: the directives that take more than nginx's
 * own setters do: the webhook a location serves, the processor, the
 * lists of payment networks and types, the payer details to request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


static char *ngx_http_opay_set_webhook(ngx_conf_t *cf,
    ngx_http_opay_loc_conf_t *olcf, ngx_uint_t webhook);


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


char *
ngx_http_opay_payment_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_opay_set_webhook(cf, conf, NGX_HTTP_OPAY_REQUEST);
}


char *
ngx_http_opay_payment_complete(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_opay_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_opay_module);
    omcf->complete = 1;

    return ngx_http_opay_set_webhook(cf, conf, NGX_HTTP_OPAY_COMPLETE);
}


char *
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

    /* the module calls PREFIX + "v1/payment_intents..." */

    if (value[2].len == 0 || value[2].data[0] != '/'
        || value[2].data[value[2].len - 1] != '/'
        || ngx_strlchr(value[2].data, value[2].data + value[2].len, '?'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" takes the prefix of a location that "
                           "proxies to Stripe's API root, starting and "
                           "ending with \"/\", without arguments "
                           "(\"%V\" given): the module calls it with "
                           "\"v1/payment_intents\" appended",
                           &cmd->name, &value[2]);
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
 * A list of names kept as opay_str_t, each checked by cmd->post's handler
 * when one is given.
 */

char *
ngx_http_opay_names(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char              *rv;
    ngx_str_t         *value;
    ngx_uint_t         i;
    opay_str_t        *name;
    ngx_array_t      **a;
    ngx_conf_post_t   *post;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(opay_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    post = cmd->post;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(*a);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = (const char *) value[i].data;
        name->len = value[i].len;

        if (post == NULL) {
            continue;
        }

        rv = post->post_handler(cf, post, name);
        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s \"%V\" in \"%V\"",
                               rv, &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* cmd->post's handler of a list of names: one name, data an opay_str_t */

char *
ngx_http_opay_names_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_opay_names_post_t  *np = post;
    opay_str_t                  *name = data;

    return np->known(*name) ? NGX_CONF_OK : "unknown name";
}


char *
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
