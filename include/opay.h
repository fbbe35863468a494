/*
 * The C API of the opay core: the only thing the nginx shim sees.
 * Opaque handles, plain buffers, error values; nothing here throws.
 * Strings handed out stay valid until the next call on the same handle.
 */

#ifndef OPAY_H
#define OPAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
#define OPAY_NOEXCEPT noexcept
extern "C" {
#else
#define OPAY_NOEXCEPT
#endif


typedef struct {
    const char  *data;
    size_t       len;
} opay_str_t;


/*
 * the module's version, the User-Agent of its subrequests and key fetches,
 * and the directives' defaults, for nginx and opay
 */

#define OPAY_VERSION                   "0.1.0"
#define OPAY_USER_AGENT                "opay/" OPAY_VERSION
#define OPAY_DEFAULT_JWT_ISSUER        "https://substrate.office.com/sts/"
#define OPAY_DEFAULT_JWT_APPID         "48af08dc-f6d2-435f-b2a7-069abd99c086"
#define OPAY_DEFAULT_JWT_VERSION       "STI.ExternalAccessToken.V1"
#define OPAY_DEFAULT_JWT_LEEWAY        300             /* seconds */
#define OPAY_DEFAULT_JWKS_MAX_SIZE     (256 * 1024)    /* bytes */
#define OPAY_DEFAULT_JWKS_REFRESH      (3600 * 1000)   /* ms */
#define OPAY_DEFAULT_JWKS_MIN_REFRESH  (30 * 1000)     /* ms */
#define OPAY_DEFAULT_JWKS_TIMEOUT      (10 * 1000)     /* ms */


/* configuration, built once per location at configuration time */

#define OPAY_PAYER_NAME   1
#define OPAY_PAYER_EMAIL  2
#define OPAY_PAYER_PHONE  4

typedef struct {
    opay_str_t         merchant_id;
    opay_str_t         jwks_file;       /* path */
    opay_str_t         jwt_issuer;
    opay_str_t         jwt_appid;       /* ignored when jwt_appid_off */
    int                jwt_appid_off;
    opay_str_t         jwt_version;     /* ignored when jwt_version_off */
    int                jwt_version_off;
    int64_t            jwt_leeway;      /* seconds */
    const opay_str_t  *allowed_senders;
    size_t             n_allowed_senders;
    int                test_mode;
    const opay_str_t  *networks;        /* none: visa, mastercard, amex */
    size_t             n_networks;
    const opay_str_t  *types;           /* none: credit */
    size_t             n_types;
    unsigned           request_payer;   /* OPAY_PAYER_* bits */
    int                shipping;        /* opay_shipping_uri is set */
    opay_str_t         shipping_type;   /* shipping, delivery or pickup */
    int                processor;       /* opay_processor stripe is set */
    opay_str_t         processor_prefix; /* its PREFIX, as written: with
                                           merchant and mode, the
                                           location's identity */
    int                notify;          /* opay_notify_uri is set */
    int                journal;         /* opay_journal is set */
    opay_str_t         success_message;
    int                jwks_remote;     /* opay_jwks_url or _openid_... */
} opay_settings_t;

typedef struct opay_conf_s  opay_conf_t;

/* NULL on error, with a message naming the directive written to err */
opay_conf_t *opay_conf_create(const opay_settings_t *s, char *err,
    size_t err_size) OPAY_NOEXCEPT;
void opay_conf_free(opay_conf_t *conf) OPAY_NOEXCEPT;

/* 1 if name is a payment network / type the protocol knows */
int opay_known_network(opay_str_t name) OPAY_NOEXCEPT;
int opay_known_type(opay_str_t name) OPAY_NOEXCEPT;


/*
 * memory the flows parse request bodies into, kept from one flow to the
 * next: at most n arenas of bytes each, made on first need.  A flow that
 * gets as far as its body borrows one until opay_flow_free, or parses
 * into a fresh pool when all are lent.  A body takes its length plus its
 * parsed values: 2.5 to 4.5 times its length for most JSON; what does not
 * fit spills into 4 KiB chunks.  One per worker process, used from its
 * event loop only.  Freeing it while flows still hold arenas is safe:
 * the memory goes with the last of them.
 */

typedef struct opay_arenas_s  opay_arenas_t;

/* NULL when n is 0 or out of memory */
opay_arenas_t *opay_arenas_create(size_t n, size_t bytes) OPAY_NOEXCEPT;
void opay_arenas_free(opay_arenas_t *arenas) OPAY_NOEXCEPT;
/* arenas lent to flows now, and made so far */
void opay_arenas_stats(const opay_arenas_t *arenas, size_t *lent,
    size_t *made) OPAY_NOEXCEPT;


/* the kind of a key fetch's result, as opay_status counts them */
typedef enum {
    OPAY_KEY_OK = 0,
    OPAY_KEY_DNS,
    OPAY_KEY_CONNECT,
    OPAY_KEY_TLS,
    OPAY_KEY_TIMEOUT,
    OPAY_KEY_REDIRECT,
    OPAY_KEY_HTTP,
    OPAY_KEY_SIZE,
    OPAY_KEY_PARSE,
    OPAY_KEY_CHECKS,
    OPAY_KEY_MEMORY,
    OPAY_KEY_OTHER,
    OPAY_KEY_RESULTS            /* how many kinds */
} opay_key_result_e;


/* one webhook call */

typedef enum {
    OPAY_PAYMENT_REQUEST = 0,
    OPAY_PAYMENT_COMPLETE
} opay_webhook_e;

typedef struct {
    opay_webhook_e  webhook;
    opay_str_t      method;
    opay_str_t      content_type;
    opay_str_t      authorization;
    opay_str_t      action_authorization;
    int             too_large;          /* body over opay_max_body_size */
    opay_str_t      body;
    int64_t         now;                /* seconds since the epoch */
    /*
     * with opay_jwks_url: the fetched keys, or NULL and the last fetch's
     * failure (OPAY_KEY_OK: no fetch has ended yet); the core says it
     */
    const struct opay_keys_s  *keys;
    opay_key_result_e  keys_failure;
    opay_arenas_t  *arenas;             /* NULL: a fresh pool per flow */
} opay_input_t;

typedef enum {
    OPAY_STEP_RESPOND = 0,
    OPAY_STEP_FETCH,
    OPAY_STEP_CLAIM,      /* claim key in the shared zone; resolve with an
                             OPAY_CLAIM_* result (and the stored reply) */
    OPAY_STEP_JOURNAL,    /* append data + "\n" to the journal and flush it
                             to disk; resolve with 0, or -1 on failure */
    OPAY_STEP_SETTLE      /* store: keep data as key's final reply;
                             otherwise release key; resolve with 0 */
} opay_step_e;

#define OPAY_CLAIM_NEW     0   /* claimed for this request */
#define OPAY_CLAIM_BUSY    1   /* another request holds it now */
#define OPAY_CLAIM_DONE    2   /* finished before: data is the reply */
#define OPAY_CLAIM_FAILED  3   /* the zone is full or unusable */

typedef enum {
    OPAY_TARGET_INVOICE = 0,
    OPAY_TARGET_SHIPPING,
    OPAY_TARGET_PROCESSOR,
    OPAY_TARGET_NOTIFY
} opay_target_e;

/* "invoice", "shipping", "processor", "notify": logs and metric labels */
const char *opay_target_name(opay_target_e target) OPAY_NOEXCEPT;

typedef enum {
    OPAY_LOG_NONE = 0,
    OPAY_LOG_INFO,
    OPAY_LOG_ERROR
} opay_log_e;

/*
 * A refusal for want of keys (opay_jwks_url): the shim asks for a refresh
 * and parks the request until it ends, then runs the flow again
 */
typedef enum {
    OPAY_KEYS_WAIT_NONE = 0,
    OPAY_KEYS_WAIT_UNKNOWN_KEY,   /* the token's kid is not in the keys */
    OPAY_KEYS_WAIT_NO_KEYS        /* none yet: the 503 gets Retry-After,
                                     opay_schedule_retry_after() */
} opay_keys_wait_e;

typedef struct {
    opay_target_e  target;
    int            post;            /* 0: GET, 1: POST with body */
    opay_str_t     body;
    opay_str_t     content_type;
    opay_str_t     idempotency_key; /* empty when not needed */
    opay_str_t     path;            /* appended to the target's URI (the
                                       processor's prefix); else empty */
} opay_fetch_t;

typedef struct {
    opay_step_e          kind;

    /* OPAY_STEP_RESPOND */
    int                  status;
    opay_str_t           body;      /* JSON */
    int                  www_authenticate;
    opay_log_e           log_level;
    opay_str_t           log_message;
    opay_keys_wait_e     keys_wait;

    /* OPAY_STEP_FETCH: run all, in any order or in parallel, then feed */
    const opay_fetch_t  *fetches;
    size_t               n_fetches;

    /* OPAY_STEP_CLAIM, OPAY_STEP_JOURNAL, OPAY_STEP_SETTLE */
    opay_str_t           key;
    opay_str_t           data;
    int                  store;
} opay_step_t;

/* status of a fetch that produced no HTTP answer (subrequest failed) */
#define OPAY_FETCH_FAILED  0

typedef enum {
    OPAY_VAR_EVENT = 0,
    OPAY_VAR_SUB,
    OPAY_VAR_SENDER,
    OPAY_VAR_REQUEST_ID,
    OPAY_VAR_RESULT,
    OPAY_VAR_ERROR,
    OPAY_VAR_CHARGE,        /* a charge this call made: an opay_charge_e's
                               name (unset on a replay) */
    OPAY_VAR_CHARGE_CODE    /* its inner error code, when it failed */
} opay_var_e;

/*
 * What a call came to, typed: the core names each (src/core/outcome.cpp)
 * for $opay_result, $opay_error, $opay_charge and the metric labels.
 */

typedef enum {
    OPAY_RESULT_NONE = 0,       /* no payment result: $opay_result unset */
    OPAY_RESULT_SUCCESS,        /* PaymentComplete answered "success" */
    OPAY_RESULT_FAIL,           /* PaymentComplete answered "fail" */
    OPAY_RESULT_OK,             /* metrics: no result, answered 200 */
    OPAY_RESULT_REFUSED,        /* metrics: no result, answered otherwise */
    OPAY_RESULTS                /* how many kinds */
} opay_result_e;

/* the refusal reason ($opay_error): an error code, or why a token failed */
typedef enum {
    OPAY_REFUSAL_NONE = 0,
    OPAY_REFUSAL_METHOD_NOT_ALLOWED,
    OPAY_REFUSAL_BODY_TOO_LARGE,
    OPAY_REFUSAL_NO_SIGNING_KEYS,
    OPAY_REFUSAL_MISSING_TOKEN,
    OPAY_REFUSAL_BAD_SCHEME,
    OPAY_REFUSAL_MALFORMED,
    OPAY_REFUSAL_BAD_ALG,
    OPAY_REFUSAL_UNKNOWN_KEY,
    OPAY_REFUSAL_BAD_SIGNATURE,
    OPAY_REFUSAL_BAD_ISSUER,
    OPAY_REFUSAL_BAD_AUDIENCE,
    OPAY_REFUSAL_BAD_APPID,
    OPAY_REFUSAL_BAD_VERSION,
    OPAY_REFUSAL_MISSING_EXP,
    OPAY_REFUSAL_EXPIRED,
    OPAY_REFUSAL_NOT_YET_VALID,
    OPAY_REFUSAL_ISSUED_IN_FUTURE,
    OPAY_REFUSAL_BAD_SENDER,
    OPAY_REFUSAL_INVALID_TOKEN,         /* a token check not named above */
    OPAY_REFUSAL_UNSUPPORTED_MEDIA_TYPE,
    OPAY_REFUSAL_MALFORMED_JSON,
    OPAY_REFUSAL_INVALID_PAYLOAD,
    OPAY_REFUSAL_UNSUPPORTED_EVENT,
    OPAY_REFUSAL_UNKNOWN_INVOICE,
    OPAY_REFUSAL_BACKEND_TIMEOUT,
    OPAY_REFUSAL_BACKEND_ERROR,
    OPAY_REFUSAL_JOURNAL_UNAVAILABLE,
    OPAY_REFUSAL_STATE_UNAVAILABLE,
    OPAY_REFUSAL_PAYMENT_IN_PROGRESS,
    OPAY_REFUSAL_PAYMENT_REFUSED,       /* 200, result fail, nothing charged */
    OPAY_REFUSAL_INTERNAL_ERROR,
    OPAY_REFUSALS
} opay_refusal_e;

/* what a charge this call made came to (opay_charges_total's result) */
typedef enum {
    OPAY_CHARGE_NONE = 0,
    OPAY_CHARGE_SUCCEEDED,      /* this payer's card, charged by this call */
    OPAY_CHARGE_ALREADY_PAID,   /* the invoice's charge at this amount */
    OPAY_CHARGE_OTHER_PAYER,    /* another payer's charge, found here */
    OPAY_CHARGE_DECLINED,
    OPAY_CHARGE_REQUIRES_ACTION,
    OPAY_CHARGE_REJECTED,       /* the processor did nothing */
    OPAY_CHARGE_UNKNOWN,        /* may have charged: it could not be learned */
    OPAY_CHARGES
} opay_charge_e;


/*
 * $opay_* values escaped: OPAY_ESCAPE_URI while a subrequest URI is being
 * expanded (everything but RFC 3986's unreserved characters, "/", "\\"
 * and the dots of "." and ".." twice, so a value stays one path segment
 * after a backend's own decoding), OPAY_ESCAPE_TEXT elsewhere (headers,
 * logs: control characters only)
 */
#define OPAY_ESCAPE_TEXT  0
#define OPAY_ESCAPE_URI   1

size_t opay_escape_len(opay_str_t value, int how) OPAY_NOEXCEPT;
/* writes opay_escape_len(value, how) bytes to dst; returns their end */
char *opay_escape(char *dst, opay_str_t value, int how) OPAY_NOEXCEPT;

/*
 * An expanded subrequest URI split at its first '?' (args: after it, a
 * view into uri; data NULL when there is none) and its path decoded into
 * path (room for uri.len bytes) but for what could end or split a segment.
 * 0, or -1 when it is unsafe to send: a NUL byte, a path that is empty,
 * does not start with '/' or has a "." or ".." segment.
 */
int opay_uri_split(opay_str_t uri, char *path, size_t *path_len,
    opay_str_t *args) OPAY_NOEXCEPT;


typedef struct opay_flow_s  opay_flow_t;

/* NULL only when out of memory (or on a broken internal bound) */
opay_flow_t *opay_flow_start(const opay_conf_t *conf,
    const opay_input_t *in) OPAY_NOEXCEPT;
void opay_flow_free(opay_flow_t *flow) OPAY_NOEXCEPT;

void opay_flow_next(opay_flow_t *flow, opay_step_t *step) OPAY_NOEXCEPT;
/*
 * replayed: the processor's answer carried "Idempotent-Replayed: true"
 * (Stripe's stored answer to the key's first request); 0 otherwise
 */
void opay_flow_feed(opay_flow_t *flow, size_t index, int status,
    opay_str_t body, int replayed) OPAY_NOEXCEPT;
/* the result of an OPAY_STEP_CLAIM, _JOURNAL or _SETTLE step */
void opay_flow_resolve(opay_flow_t *flow, int result,
    opay_str_t data) OPAY_NOEXCEPT;

/* 1 and *out set if the variable has a value */
int opay_flow_var(const opay_flow_t *flow, opay_var_e var,
    opay_str_t *out) OPAY_NOEXCEPT;
/* top-level string or number field NAME of productContext */
int opay_flow_ctx(const opay_flow_t *flow, opay_str_t name,
    opay_str_t *out) OPAY_NOEXCEPT;


/*
 * signing keys fetched from the issuer (opay_jwks_url): a parsed set for
 * requests, one blocking fetch for a thread, the refresh schedule
 */

typedef struct opay_keys_s  opay_keys_t;

/* parsed and checked as opay_jwks_file is; NULL with err on refusal */
opay_keys_t *opay_keys_load(opay_str_t jwks, char *err,
    size_t err_size) OPAY_NOEXCEPT;
void opay_keys_free(opay_keys_t *keys) OPAY_NOEXCEPT;

typedef struct {
    opay_str_t           jwks_url;      /* empty when openid_url is set */
    opay_str_t           openid_url;
    opay_str_t           ca_file;       /* empty: the system store */
    opay_str_t           cache_path;    /* empty: no cache */
    size_t               max_size;
    int64_t              timeout_ms;
} opay_source_t;

/* "ok", "dns", ...: the metric label, and an error's first word */
opay_str_t opay_key_result_name(opay_key_result_e result) OPAY_NOEXCEPT;

typedef struct {
    int                ok;
    opay_key_result_e  result;      /* OPAY_KEY_OK when ok */
    opay_str_t         document;    /* the checked JWKS, when ok */
    opay_str_t         kids;        /* "k1,k2", for the log */
    opay_str_t         url;         /* where the JWKS came from */
    opay_str_t         error;       /* kind first: "tls: ...", "checks: ..." */
    int64_t            fetched_at;  /* seconds since the epoch */
    void              *priv;        /* owns the strings */
} opay_fetched_t;

/* 1 and err set if url may not be fetched (not https, not loopback) */
int opay_url_problem(opay_str_t url, char *err, size_t err_size)
    OPAY_NOEXCEPT;

/*
 * libcurl's global state: once in the master before workers fork (not
 * thread-safe), each init paired with one cleanup
 */
int opay_http_init(void) OPAY_NOEXCEPT;
void opay_http_cleanup(void) OPAY_NOEXCEPT;

/*
 * Blocking, for a thread: the OpenID metadata and the JWKS over HTTPS
 * with libcurl, checked, written to the cache on success.
 */
void opay_keys_fetch(const opay_source_t *src, int64_t now,
    opay_fetched_t *out) OPAY_NOEXCEPT;
/*
 * the last good document from src's opay_jwks_cache file: refused (error
 * set) unless a regular file owned by one of owners, not writable by
 * group or others, within max_size, recorded for src's URL
 */
void opay_keys_read_cache(const opay_source_t *src, const uid_t *owners,
    size_t n_owners, opay_fetched_t *out) OPAY_NOEXCEPT;
/* a good set the key zone could not hold: f becomes a memory failure */
void opay_fetched_zone_full(opay_fetched_t *f) OPAY_NOEXCEPT;
void opay_fetched_free(opay_fetched_t *f) OPAY_NOEXCEPT;

/* the refresh schedule: a plain struct, kept in shared memory */

typedef struct {
    int64_t    next_due;        /* ms; the periodic refresh */
    int64_t    last_unknown;    /* ms; the last unknown-kid refresh */
    int64_t    fetch_started;   /* ms */
    uint32_t   failures;        /* in a row */
    int        fetching;
} opay_schedule_t;

typedef struct {
    int64_t    refresh_ms;      /* opay_jwks_refresh */
    int64_t    min_refresh_ms;  /* opay_jwks_min_refresh */
    int64_t    stale_ms;        /* a fetch older than this has died */
} opay_refresh_t;

/* seconds a client waits for the next refresh: Retry-After, at least 1 */
int64_t opay_schedule_retry_after(const opay_schedule_t *s, int64_t now_ms)
    OPAY_NOEXCEPT;
/* 1: the caller fetches now (the schedule marks it fetching) */
int opay_schedule_start(opay_schedule_t *s, const opay_refresh_t *policy,
    int64_t now_ms, int unknown_kid) OPAY_NOEXCEPT;
void opay_schedule_done(opay_schedule_t *s, const opay_refresh_t *policy,
    int64_t now_ms, int ok, uint64_t random) OPAY_NOEXCEPT;


/*
 * opay_status: series kept by the shim in its shared zone, named and
 * written out in Prometheus' text format 0.0.4 by the core
 */

#define OPAY_METRICS_KEY_MAX   200   /* bytes of name{labels}, escaped */
#define OPAY_METRICS_BUCKETS   11    /* a histogram's finite buckets */
#define OPAY_METRICS_CALL_MAX  4     /* series one answered call counts in */

/* one series: a plain struct, kept in shared memory */
typedef struct {
    uint32_t   hash;                 /* the shim's, of key */
    uint16_t   len;                  /* of key; 0: a free slot */
    uint8_t    histogram;
    char       key[OPAY_METRICS_KEY_MAX];    /* name{labels} */
    uint64_t   value;                /* a counter; a histogram's count */
    uint64_t   sum;                  /* a histogram's, in microseconds */
    uint64_t   buckets[OPAY_METRICS_BUCKETS];  /* per bucket, not summed */
} opay_series_t;

typedef struct {
    opay_str_t  key;                 /* empty: over OPAY_METRICS_KEY_MAX */
    int         histogram;           /* 1: observes the call's time */
} opay_metric_t;

/*
 * The series an answered call counts in: requests, refusals, charges and
 * the duration histogram, labelled by the core (location: the location's
 * name; status: the HTTP status sent); keys valid until the next call on
 * flow.  Returns how many were written to out.
 */
size_t opay_flow_metrics(opay_flow_t *flow, opay_str_t location, int status,
    opay_metric_t out[OPAY_METRICS_CALL_MAX]) OPAY_NOEXCEPT;

/* the histogram series of a fetch's time, written to buf; its length */
size_t opay_metrics_fetch_key(opay_target_e target, char *buf,
    size_t size) OPAY_NOEXCEPT;

/* one more for a counter; one observation of us microseconds otherwise */
void opay_series_count(opay_series_t *s, uint64_t us) OPAY_NOEXCEPT;

/* a key source's state at scrape time (opay_jwks_url) */
typedef struct {
    opay_str_t  url;
    int64_t     fetched_at;          /* the set in use; 0: none */
    int64_t     refreshed_at;        /* last fetch's end; 0: none */
    uint64_t    results[OPAY_KEY_RESULTS];   /* fetches by result */
} opay_key_stats_t;

/*
 * The status page: the series (any order; free slots skipped), the key
 * sources' lines and the count of dropped calls.  Writes up to size bytes
 * to buf; returns the page's whole length (size too small: call again with
 * a buffer that big); 0 only when out of memory.
 */
size_t opay_metrics_write(char *buf, size_t size, const opay_series_t *series,
    size_t n, const opay_key_stats_t *keys, size_t n_keys, uint64_t dropped,
    int64_t now) OPAY_NOEXCEPT;


#ifdef __cplusplus
}
#endif

#endif /* OPAY_H */
