
/*
 * ngx_http_opay_journal.c: the opay_journal files.  Appends a flow's
 * journal line and fdatasync()s it in a thread-pool task, resumes the
 * flow when the task is done, and checks at start-up (in the master) that
 * every journal can be written by the workers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_opay.h"


static void ngx_http_opay_journal_append(void *data, ngx_log_t *log);
static void ngx_http_opay_journal_done(ngx_http_request_t *r,
    ngx_http_opay_ctx_t *ctx);
#if (NGX_THREADS)
static void ngx_http_opay_journal_event(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_opay_journal_check(ngx_cycle_t *cycle,
    ngx_core_conf_t *ccf, u_char *path);
static ngx_fd_t ngx_http_opay_journal_open(u_char *path);
static char *ngx_http_opay_journal_unfit(ngx_file_info_t *fi);


/*
 * One line appended and flushed to disk before the flow goes on: the
 * record of a charge must survive a crash right after it.  The write and
 * its fdatasync() run in nginx's default thread pool, off the event loop;
 * NGX_AGAIN means the flow resumes when the thread is done.
 */

ngx_int_t
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
        r->write_event_handler = ngx_http_opay_resume;
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

    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_http_opay_journal_open(j->path);
    if (fd == NGX_INVALID_FILE) {
        j->err = ngx_errno;
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        j->err = ngx_errno;

    } else if (!ngx_is_file(&fi)) {
        /* "Invalid argument": the journal is not a regular file */
        j->err = NGX_EINVAL;

    } else if ((n = ngx_write_fd(fd, j->line, j->len)) != (ssize_t) j->len) {
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

/*
 * The thread is done.  The flow goes on through the request's write event
 * handler, as nginx's own thread tasks do, unless nginx terminated the
 * request meanwhile (worker_shutdown_timeout, a subrequest ending in 444
 * or an error): then the request is finalized and the flow not resumed.
 * nginx 1.22 leaves its finalizer on the subrequest that failed, not on
 * this request: the request's cleanup tells, not its handler.
 */

static void
ngx_http_opay_journal_event(ngx_event_t *ev)
{
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

    if (ctx->terminated) {
        ngx_http_finalize_request(r, NGX_ERROR);

    } else {
        r->write_event_handler(r);
    }

    ngx_http_run_posted_requests(c);
}

#endif


/*
 * Runs in the master (as root, under nginx -t too): every journal must be
 * writable by the workers, or the configuration is refused.
 */

ngx_int_t
ngx_http_opay_init_module(ngx_cycle_t *cycle)
{
    ngx_str_t                  *path;
    ngx_uint_t                  i;
    ngx_core_conf_t            *ccf;
    ngx_http_opay_main_conf_t  *omcf;

    /*
     * no http{} block: nothing to check (ngx_http_module is a core module,
     * it has no main conf of its own to look up; UBSan caught the index -1)
     */
    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_opay_module);
    if (omcf == NULL || omcf->journals == NULL) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    path = omcf->journals->elts;

    for (i = 0; i < omcf->journals->nelts; i++) {
        if (ngx_http_opay_journal_check(cycle, ccf, path[i].data) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The master may run as root and gives the journal to the worker user: a
 * symlink or hard link planted in a directory the workers can write would
 * otherwise hand it any file (the CVE-2016-1247 pattern).  The journal is
 * opened without following a symlink and must be a regular file with one
 * link, owned by root or the worker user, before anything is changed.
 */

static ngx_int_t
ngx_http_opay_journal_check(ngx_cycle_t *cycle, ngx_core_conf_t *ccf,
    u_char *path)
{
    char             *why;
    ngx_fd_t          fd;
    ngx_uid_t         user;
    ngx_file_info_t   fi;

    fd = ngx_http_opay_journal_open(path);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "opay_journal \"%s\" cannot be opened%s", path,
                      ngx_errno == NGX_ELOOP ? " (a symbolic link)" : "");
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", path);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    user = (ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) ? ccf->user
                                                           : geteuid();
    why = ngx_http_opay_journal_unfit(&fi);

    if (why == NULL && fi.st_uid != 0 && fi.st_uid != user
        && fi.st_uid != geteuid())
    {
        why = "is owned by another user";
    }

    if (why) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "opay_journal \"%s\" %s", path, why);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
        && fi.st_uid != ccf->user
        && fchown(fd, ccf->user, -1) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "opay_journal \"%s\": fchown() failed", path);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    ngx_close_file(fd);

    return NGX_OK;
}


/*
 * At configuration time (nginx -t, start and reload, where a refusal keeps
 * the running configuration), before anything opens the journal: what is
 * at its path must be able to be it.  Opening a FIFO for writing would
 * block the master until a reader comes.
 */

ngx_int_t
ngx_http_opay_journal_conf_check(ngx_conf_t *cf, u_char *path)
{
    char             *why;
    ngx_file_info_t   fi;

    if (ngx_link_info(path, &fi) == NGX_FILE_ERROR) {
        /* nothing there yet (the master creates it), or open() says why */
        return NGX_OK;
    }

    why = ngx_http_opay_journal_unfit(&fi);

    if (why) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "opay_journal \"%s\" %s", path, why);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * For appending, never through a symbolic link, and with O_NONBLOCK: a
 * FIFO put at the path since the configuration was read would block the
 * master or a thread in open() until a reader comes (it then fails the
 * regular-file checks).  A file lease makes that open fail with EAGAIN
 * (leases exist on regular files only): the file is opened again without
 * O_NONBLOCK, which waits for the lease to be broken, as a journal must.
 */

static ngx_fd_t
ngx_http_opay_journal_open(u_char *path)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(path, NGX_FILE_APPEND|O_NOFOLLOW|O_NONBLOCK,
                       NGX_FILE_CREATE_OR_OPEN, 0640);

    if (fd == NGX_INVALID_FILE && ngx_errno == NGX_EAGAIN) {
        fd = ngx_open_file(path, NGX_FILE_APPEND|O_NOFOLLOW,
                           NGX_FILE_CREATE_OR_OPEN, 0640);
    }

    return fd;
}


/* why what is at a journal path cannot be the journal; NULL: it can */

static char *
ngx_http_opay_journal_unfit(ngx_file_info_t *fi)
{
    if (ngx_is_link(fi)) {
        return "is a symbolic link";
    }

    if (!ngx_is_file(fi)) {
        return "is not a regular file";
    }

    if (fi->st_nlink != 1) {
        return "has more than one link";
    }

    return NULL;
}
