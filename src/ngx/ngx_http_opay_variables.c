
/*
 * ngx_http_opay_variables.c: the $opay_* variables ($opay_event,
 * $opay_sub, $opay_sender, $opay_request_id, $opay_result, $opay_error,
 * $opay_charge, $opay_charge_code, $opay_ctx_NAME), read from the
 * request's flow for logs and backends, and $opay_keys_age and
 * $opay_keys_source, read from the location's keys.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


static ngx_int_t ngx_http_opay_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_opay_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_opay_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_uint_t found, opay_str_t *s);


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

    { ngx_string("opay_charge"), NULL, ngx_http_opay_variable,
      OPAY_VAR_CHARGE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_charge_code"), NULL, ngx_http_opay_variable,
      OPAY_VAR_CHARGE_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_keys_age"), NULL, ngx_http_opay_keys_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_keys_source"), NULL, ngx_http_opay_keys_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("opay_ctx_"), NULL, ngx_http_opay_ctx_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_opay_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    opay_str_t            s;
    ngx_http_opay_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_opay_module);

    return ngx_http_opay_value(r, v, ctx && ctx->flow
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

    return ngx_http_opay_value(r, v, ctx && ctx->flow
                                     && opay_flow_ctx(ctx->flow, field, &s),
                               &s);
}


/*
 * A value is copied into the request's pool (the core's strings move on
 * with the flow; logs and subrequests read it later).  In a subrequest URI
 * being built (ctx->uri_escape) it is percent-encoded: everything but
 * RFC 3986's unreserved characters, so it can add no segment, query or
 * line.  Slashes, backslashes and the dots of "." and ".." are encoded
 * twice ("%252F"): a backend that decodes the path once before it routes
 * (nginx does) would otherwise see a segment or a dot segment and climb.
 * Elsewhere (headers, logs) control characters are percent-encoded, so it
 * can add no header or log line.
 */

static ngx_int_t
ngx_http_opay_value(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    ngx_uint_t found, opay_str_t *s)
{
    int                   how;
    size_t                n;
    u_char               *p;
    ngx_http_opay_ctx_t  *ctx;

    if (!found) {
        v->not_found = 1;
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_opay_module);
    how = ctx->uri_escape ? OPAY_ESCAPE_URI : OPAY_ESCAPE_TEXT;

    n = opay_escape_len(*s, how);

    p = ngx_pnalloc(r->pool, n ? n : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) opay_escape((char *) p, *s, how);

    v->data = p;
    v->len = n;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
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
