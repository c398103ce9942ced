/**
 * @file evpipe_jni.c
 * @brief JNI glue of the JVM binding (bindings/java, docs/java.md): the
 *        native methods of dev.evpipe.Native over the C ABI.
 *
 * Portable to Android (docs/android.md): JNI 1.6 only, no libjvm, no
 * desktop-only header. Class and method IDs are looked up once, in
 * JNI_OnLoad, because on Android FindClass from a thread the JVM did not
 * start uses the system class loader, which does not see the app's classes.
 * The natives use the Java_<class>_<method> names (RegisterNatives would
 * need function-to-object pointer casts, which ISO C forbids); keep
 * dev.evpipe.Native and Dispatcher from being renamed by R8/ProGuard
 * (docs/android.md).
 *
 * Threads: the client runs with `callbacks.mode=poll`, so delivery reports
 * and error callbacks run only inside evp_poll(), evp_flush() or
 * evp_client_destroy(), called from a Java thread through this file; no
 * library thread ever enters the JVM. The callbacks get that thread's
 * JNIEnv from the cached JavaVM (GetEnv), never from a cached JNIEnv.
 *
 * Text: Java passes every string as a UTF-8 byte[] (String.getBytes(UTF_8))
 * and decodes the byte[]s it gets back, because JNI's "UTF" functions use
 * Modified UTF-8, which encodes characters outside the BMP (emoji) as two
 * 3-byte surrogates that JSON parsers reject.
 */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evpipe/client.h>
#include <evpipe/conf.h>
#include <evpipe/error.h>
#include <evpipe/schema.h>

/* The Java side of the client: its dispatcher gets the reports. One global
 * reference per client (never one per event: events carry an integer id). */
typedef struct {
  evp_client_t *client;
  jobject dispatcher;
} evpj_client_t;

static JavaVM *evpj_vm;
static jclass evpj_exception_class;
static jclass evpj_bytes_class;
static jmethodID evpj_exception_init;
static jmethodID evpj_on_delivery;
static jmethodID evpj_on_error;

#define EVPJ_ERRSTR 512

/* A byte[] holding @p len bytes of @p s, or NULL (an OutOfMemoryError is
 * then pending). */
static jbyteArray evpj_bytes(JNIEnv *env, const char *s, size_t len) {
  if (len > INT32_MAX) len = INT32_MAX;
  jbyteArray a = (*env)->NewByteArray(env, (jsize)len);
  if (a && len) (*env)->SetByteArrayRegion(env, a, 0, (jsize)len, (const jbyte *)s);
  return a;
}

/* Throw dev.evpipe.EvpipeException(code, reason). */
static void evpj_throw(JNIEnv *env, evp_err_t code, const char *reason) {
  jbyteArray msg = evpj_bytes(env, reason ? reason : "", reason ? strlen(reason) : 0);
  if (!msg) return;
  jobject ex = (*env)->NewObject(env, evpj_exception_class, evpj_exception_init, (jint)code, msg);
  (*env)->DeleteLocalRef(env, msg);
  if (ex) {
    (*env)->Throw(env, (jthrowable)ex);
    (*env)->DeleteLocalRef(env, ex);
  }
}

static void evpj_throw_oom(JNIEnv *env) {
  jclass c = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
  if (c) (*env)->ThrowNew(env, c, "libevpipe: out of memory");
}

/* The NUL-terminated copy of a byte[] (caller frees), or NULL with an
 * exception pending. */
static char *evpj_cstr(JNIEnv *env, jbyteArray a) {
  jsize n = (*env)->GetArrayLength(env, a);
  char *s = malloc((size_t)n + 1);
  if (!s) {
    evpj_throw_oom(env);
    return NULL;
  }
  (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)s);
  s[n] = '\0';
  return s;
}

/* The JNIEnv of the thread running a callback: always a Java thread inside
 * one of this file's natives (poll mode), so GetEnv cannot fail there. */
static JNIEnv *evpj_env(void) {
  void *env = NULL;
  if ((*evpj_vm)->GetEnv(evpj_vm, &env, JNI_VERSION_1_6) != JNI_OK) return NULL;
  return env;
}

/* A callback must leave no exception pending: the library serves further
 * reports in the same evp_poll(), and JNI forbids calls with one pending. The
 * Java side catches what listeners throw, so this is only for VM errors in
 * the dispatcher itself (such as OutOfMemoryError), which are printed. */
static void evpj_clear(JNIEnv *env) {
  if ((*env)->ExceptionCheck(env)) {
    (*env)->ExceptionDescribe(env);
    (*env)->ExceptionClear(env);
  }
}

static void evpj_on_delivery_cb(evp_client_t *client, const evp_delivery_t *r, void *opaque) {
  (void)client;
  evpj_client_t *c = opaque;
  JNIEnv *env = evpj_env();
  if (!env) return;
  evpj_clear(env);
  const char *reason = evp_delivery_reason(r);
  size_t id_len = 0;
  const char *id = evp_delivery_event_id(r, &id_len);
  jbyteArray jreason = reason ? evpj_bytes(env, reason, strlen(reason)) : NULL;
  evpj_clear(env);
  jbyteArray jid = evpj_bytes(env, id, id_len);
  evpj_clear(env);
  (*env)->CallVoidMethod(
      env, c->dispatcher, evpj_on_delivery, (jint)evp_delivery_status(r),
      (jint)evp_delivery_error(r), jreason, jid, (jlong)(uintptr_t)evp_delivery_opaque(r),
      (jlong)evp_delivery_latency_us(r), (jint)evp_delivery_attempts(r),
      (jint)evp_delivery_http_status(r), evp_delivery_from_spool(r) ? JNI_TRUE : JNI_FALSE);
  evpj_clear(env);
  /* One evp_poll() may serve thousands of reports in this native frame. */
  if (jreason) (*env)->DeleteLocalRef(env, jreason);
  if (jid) (*env)->DeleteLocalRef(env, jid);
}

static void evpj_on_error_cb(evp_err_t err, int retrying, const char *reason, void *opaque) {
  evpj_client_t *c = opaque;
  JNIEnv *env = evpj_env();
  if (!env) return;
  evpj_clear(env);
  jbyteArray jreason = evpj_bytes(env, reason ? reason : "", reason ? strlen(reason) : 0);
  evpj_clear(env);
  (*env)->CallVoidMethod(env, c->dispatcher, evpj_on_error, (jint)err,
                         retrying ? JNI_TRUE : JNI_FALSE, jreason);
  evpj_clear(env);
  if (jreason) (*env)->DeleteLocalRef(env, jreason);
}

static evpj_client_t *evpj_handle(JNIEnv *env, jlong h) {
  evpj_client_t *c = (evpj_client_t *)(intptr_t)h;
  if (!c) evpj_throw(env, EVP_ERR_STATE, "the client is closed");
  return c;
}

JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_confNew(JNIEnv *env, jclass cls) {
  (void)cls;
  evp_conf_t *conf = evp_conf_new();
  if (!conf) evpj_throw_oom(env);
  return (jlong)(intptr_t)conf;
}

JNIEXPORT void JNICALL Java_dev_evpipe_Native_confDestroy(JNIEnv *env, jclass cls, jlong conf) {
  (void)env, (void)cls;
  evp_conf_destroy((evp_conf_t *)(intptr_t)conf);
}

JNIEXPORT void JNICALL Java_dev_evpipe_Native_confSet(JNIEnv *env, jclass cls, jlong conf,
                                                      jbyteArray jname, jbyteArray jval) {
  (void)cls;
  char *name = evpj_cstr(env, jname);
  char *value = name ? evpj_cstr(env, jval) : NULL;
  if (value) {
    char errstr[EVPJ_ERRSTR] = "";
    evp_err_t rc = evp_conf_set((evp_conf_t *)(intptr_t)conf, name, value, errstr, sizeof errstr);
    if (rc != EVP_OK) evpj_throw(env, rc, errstr);
    /* The value may be client.secret: wipe the copy. */
    memset(value, 0, strlen(value));
  }
  free(value);
  free(name);
}

JNIEXPORT jbyteArray JNICALL Java_dev_evpipe_Native_confGet(JNIEnv *env, jclass cls, jlong conf,
                                                            jbyteArray jname) {
  (void)cls;
  char *name = evpj_cstr(env, jname);
  if (!name) return NULL;
  jbyteArray out = NULL;
  size_t size = 0;
  evp_err_t rc = evp_conf_get((evp_conf_t *)(intptr_t)conf, name, NULL, &size);
  char *buf = rc == EVP_OK || rc == EVP_ERR_TOO_LARGE ? malloc(size ? size : 1) : NULL;
  if (rc != EVP_OK && rc != EVP_ERR_TOO_LARGE) {
    evpj_throw(env, rc, evp_err2str(rc));
  } else if (!buf) {
    evpj_throw_oom(env);
  } else if ((rc = evp_conf_get((evp_conf_t *)(intptr_t)conf, name, buf, &size)) != EVP_OK) {
    evpj_throw(env, rc, evp_err2str(rc));
  } else {
    out = evpj_bytes(env, buf, strlen(buf));
  }
  free(buf);
  free(name);
  return out;
}

/* A client on a copy of @p conf, in poll mode, whose reports go to
 * @p dispatcher. The caller keeps @p conf. */
JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_clientNew(JNIEnv *env, jclass cls, jlong jconf,
                                                         jobject dispatcher) {
  (void)cls;
  char errstr[EVPJ_ERRSTR] = "";
  evpj_client_t *c = calloc(1, sizeof *c);
  evp_conf_t *conf = evp_conf_dup((evp_conf_t *)(intptr_t)jconf);
  if (!c || !conf || !(c->dispatcher = (*env)->NewGlobalRef(env, dispatcher))) {
    evp_conf_destroy(conf);
    free(c);
    if (!(*env)->ExceptionCheck(env)) evpj_throw_oom(env);
    return 0;
  }
  evp_err_t rc = evp_conf_set(conf, "callbacks.mode", "poll", errstr, sizeof errstr);
  if (rc == EVP_OK) {
    evp_conf_set_delivery_cb(conf, evpj_on_delivery_cb, c);
    evp_conf_set_error_cb(conf, evpj_on_error_cb);
    evp_conf_set_opaque(conf, c);
    /* The library's own code (CONF_INVALID, PERMISSION, IO...) becomes the
     * exception's, so Java code can tell the failures apart. */
    c->client = evp_client_create(conf, &rc, errstr, sizeof errstr);
  }
  if (rc != EVP_OK) {
    evp_conf_destroy(conf);
    (*env)->DeleteGlobalRef(env, c->dispatcher);
    free(c);
    evpj_throw(env, rc, errstr);
    return 0;
  }
  return (jlong)(intptr_t)c;
}

/* The natives on a client or schema handle get its Java owner as an unused
 * argument: being one keeps it reachable (its reaper cannot run) until the
 * native returns (Native.java). */
JNIEXPORT void JNICALL Java_dev_evpipe_Native_send(JNIEnv *env, jclass cls, jobject owner, jlong h,
                                                   jbyteArray json, jint off, jint len, jlong id) {
  (void)cls;
  (void)owner;
  evpj_client_t *c = evpj_handle(env, h);
  if (!c) return;
  char small[1024];
  char *buf = (size_t)len <= sizeof small ? small : malloc((size_t)len);
  if (!buf) {
    evpj_throw_oom(env);
    return;
  }
  /* A copy rather than GetPrimitiveArrayCritical: evp_send() may wait for
   * room (queue.block.timeout.ms), which a critical section must not. */
  (*env)->GetByteArrayRegion(env, json, off, len, (jbyte *)buf);
  if (!(*env)->ExceptionCheck(env)) {
    char errstr[EVPJ_ERRSTR] = "";
    evp_err_t rc =
        evp_send_opaque(c->client, buf, (size_t)len, (void *)(uintptr_t)id, errstr, sizeof errstr);
    if (rc != EVP_OK) evpj_throw(env, rc, errstr[0] ? errstr : evp_err2str(rc));
  }
  if (buf != small) free(buf);
}

JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_poll(JNIEnv *env, jclass cls, jlong h,
                                                    jint timeout_ms) {
  (void)cls;
  evpj_client_t *c = evpj_handle(env, h);
  return c ? (jlong)evp_poll(c->client, timeout_ms) : -1;
}

JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_flush(JNIEnv *env, jclass cls, jobject owner,
                                                     jlong h, jint timeout_ms) {
  (void)cls;
  (void)owner;
  evpj_client_t *c = evpj_handle(env, h);
  return c ? (jlong)evp_flush(c->client, timeout_ms) : -1;
}

/* Closes the client (serving its last reports on this thread), then drops
 * the dispatcher's global reference and frees the handle. */
JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_destroy(JNIEnv *env, jclass cls, jlong h,
                                                       jint timeout_ms) {
  (void)cls;
  evpj_client_t *c = evpj_handle(env, h);
  if (!c) return -1;
  long n = evp_client_destroy(c->client, timeout_ms);
  (*env)->DeleteGlobalRef(env, c->dispatcher);
  free(c);
  return (jlong)n;
}

/* evp_client_pause() when @p paused, else evp_client_resume(). */
JNIEXPORT jint JNICALL Java_dev_evpipe_Native_setPaused(JNIEnv *env, jclass cls, jobject owner,
                                                        jlong h, jboolean paused) {
  (void)cls;
  (void)owner;
  evpj_client_t *c = evpj_handle(env, h);
  if (!c) return -1;
  return paused ? evp_client_pause(c->client) : evp_client_resume(c->client);
}

JNIEXPORT jbyteArray JNICALL Java_dev_evpipe_Native_stats(JNIEnv *env, jclass cls, jobject owner,
                                                          jlong h) {
  (void)cls;
  (void)owner;
  evpj_client_t *c = evpj_handle(env, h);
  if (!c) return NULL;
  char *s = evp_client_stats(c->client);
  if (!s) {
    evpj_throw_oom(env);
    return NULL;
  }
  jbyteArray out = evpj_bytes(env, s, strlen(s));
  evp_free(s);
  return out;
}

/* Error names and texts are ASCII, which Modified UTF-8 encodes as UTF-8. */
JNIEXPORT jstring JNICALL Java_dev_evpipe_Native_errName(JNIEnv *env, jclass cls, jint code) {
  (void)cls;
  return (*env)->NewStringUTF(env, evp_err2name((evp_err_t)code));
}

JNIEXPORT jstring JNICALL Java_dev_evpipe_Native_errText(JNIEnv *env, jclass cls, jint code) {
  (void)cls;
  return (*env)->NewStringUTF(env, evp_err2str((evp_err_t)code));
}

JNIEXPORT jlong JNICALL Java_dev_evpipe_Native_schemaCompile(JNIEnv *env, jclass cls,
                                                             jbyteArray json) {
  (void)cls;
  jsize n = (*env)->GetArrayLength(env, json);
  jbyte *text = (*env)->GetByteArrayElements(env, json, NULL);
  if (!text) return 0;
  char errstr[EVPJ_ERRSTR] = "";
  evp_err_t rc = EVP_OK;
  evp_schema_t *schema =
      evp_schema_compile((const char *)text, (size_t)n, NULL, &rc, errstr, sizeof errstr);
  (*env)->ReleaseByteArrayElements(env, json, text, JNI_ABORT);
  if (!schema) evpj_throw(env, rc, errstr);
  return (jlong)(intptr_t)schema;
}

JNIEXPORT void JNICALL Java_dev_evpipe_Native_schemaDestroy(JNIEnv *env, jclass cls, jlong schema) {
  (void)env, (void)cls;
  evp_schema_destroy((evp_schema_t *)(intptr_t)schema);
}

/* Store @p s (may be NULL: "") at @p i of @p out; 0 with an exception
 * pending on failure. */
static int evpj_put(JNIEnv *env, jobjectArray out, jsize i, const char *s) {
  jbyteArray b = evpj_bytes(env, s ? s : "", s ? strlen(s) : 0);
  if (!b) return 0;
  (*env)->SetObjectArrayElement(env, out, i, b);
  (*env)->DeleteLocalRef(env, b);
  return !(*env)->ExceptionCheck(env);
}

/* Validate: the errors as UTF-8 byte[]s, four per error (instance path,
 * schema path, keyword, message); empty when valid. A fresh workspace per
 * call keeps the method usable from any thread (evp_schema_ctx_t is not).
 * Schema.validate holds its read lock around the call, so the schema cannot be
 * freed meanwhile. */
JNIEXPORT jobjectArray JNICALL Java_dev_evpipe_Native_schemaValidate(JNIEnv *env, jclass cls,
                                                                     jobject owner, jlong schema,
                                                                     jbyteArray json, jint off,
                                                                     jint len) {
  (void)cls;
  (void)owner; /* the Schema: kept reachable by being an argument (Schema.validate) */
  evp_schema_ctx_t *ctx = evp_schema_ctx_new();
  jbyte *text = ctx ? (*env)->GetByteArrayElements(env, json, NULL) : NULL;
  if (!text) {
    evp_schema_ctx_destroy(ctx);
    if (!(*env)->ExceptionCheck(env)) evpj_throw_oom(env);
    return NULL;
  }
  evp_err_t rc = evp_schema_validate((const evp_schema_t *)(intptr_t)schema, ctx,
                                     (const char *)text + off, (size_t)len);
  (*env)->ReleaseByteArrayElements(env, json, text, JNI_ABORT);
  jobjectArray out = NULL;
  /* Every other code describes the document, with its errors in ctx. */
  if (rc == EVP_ERR_NOMEM || rc == EVP_ERR_INVALID_ARG) {
    evpj_throw(env, rc, evp_err2str(rc));
  } else {
    size_t n = evp_schema_ctx_error_count(ctx);
    out = (*env)->NewObjectArray(env, (jsize)(4 * n), evpj_bytes_class, NULL);
    for (size_t i = 0; out && i < n; i++) {
      jsize k = (jsize)(4 * i);
      if (!evpj_put(env, out, k, evp_schema_ctx_error_instance_path(ctx, i)) ||
          !evpj_put(env, out, k + 1, evp_schema_ctx_error_schema_path(ctx, i)) ||
          !evpj_put(env, out, k + 2, evp_schema_ctx_error_keyword(ctx, i)) ||
          !evpj_put(env, out, k + 3, evp_schema_ctx_error_message(ctx, i)))
        out = NULL;
    }
  }
  evp_schema_ctx_destroy(ctx);
  return out;
}

/* A global reference to class @p name, or NULL with an exception pending. */
static jclass evpj_class(JNIEnv *env, const char *name) {
  jclass local = (*env)->FindClass(env, name);
  if (!local) return NULL;
  jclass global = (*env)->NewGlobalRef(env, local);
  (*env)->DeleteLocalRef(env, local);
  return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
  (void)reserved;
  void *penv = NULL;
  if ((*vm)->GetEnv(vm, &penv, JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
  JNIEnv *env = penv;
  evpj_vm = vm;
  jclass native = (*env)->FindClass(env, "dev/evpipe/Native");
  jclass dispatcher = native ? (*env)->FindClass(env, "dev/evpipe/Dispatcher") : NULL;
  evpj_exception_class = dispatcher ? evpj_class(env, "dev/evpipe/EvpipeException") : NULL;
  evpj_bytes_class = evpj_exception_class ? evpj_class(env, "[B") : NULL;
  if (!evpj_bytes_class) return JNI_ERR;
  evpj_exception_init = (*env)->GetMethodID(env, evpj_exception_class, "<init>", "(I[B)V");
  evpj_on_delivery = evpj_exception_init
                         ? (*env)->GetMethodID(env, dispatcher, "onDelivery", "(II[B[BJJIIZ)V")
                         : NULL;
  evpj_on_error =
      evpj_on_delivery ? (*env)->GetMethodID(env, dispatcher, "onError", "(IZ[B)V") : NULL;
  if (!evpj_on_error) return JNI_ERR;
  (*env)->DeleteLocalRef(env, dispatcher);
  (*env)->DeleteLocalRef(env, native);
  return JNI_VERSION_1_6;
}
