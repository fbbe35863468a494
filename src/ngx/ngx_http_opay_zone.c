
/*
 * ngx_http_opay_zone.c: the shared zone "opay_payments" that makes a
 * PaymentComplete charge happen once across workers and reloads.  Claim a
 * payment's key, settle it with the outcome kept for replay, release an
 * unsettled claim when its request ends, evict the oldest settled
 * payments when the slab is full; the rbtree and the zone's init.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


#define NGX_HTTP_OPAY_IN_FLIGHT 1
#define NGX_HTTP_OPAY_DONE      2


static ngx_http_opay_node_t *ngx_http_opay_lookup(ngx_http_opay_zone_t *z,
    ngx_str_t *key, uint32_t hash);
static void ngx_http_opay_release(void *data);
static void ngx_http_opay_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * Exactly once across workers: a payment's key is claimed in the shared
 * zone before anything is fetched or charged.  A claim held by a worker
 * that died (SIGKILL mid-charge) is taken over: the processor's
 * Idempotency-Key makes the repeated charge a replay.
 */

int
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


void
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


ngx_int_t
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
