package dev.evpipe;


/**
 * The natives of libevpipe_jni (src/main/c/evpipe_jni.c, exported under their
 * Java_dev_evpipe_Native_* names; its JNI_OnLoad caches class and method IDs).
 * Strings cross as UTF-8 byte arrays, never as JNI "UTF" strings (Modified
 * UTF-8 mangles characters outside the BMP). Handles are native pointers held
 * in longs; 0 is a closed client.
 */
final class Native {
  static {
    // -Devpipe.jni.library=/path/libevpipe_jni.so, or java.library.path.
    String path = System.getProperty("evpipe.jni.library");
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("evpipe_jni");
    }
  }

  private Native() {}

  static native long confNew();

  static native void confDestroy(long conf);

  static native void confSet(long conf, byte[] name, byte[] value);

  static native byte[] confGet(long conf, byte[] name);

  static native long clientNew(long conf, Dispatcher dispatcher);

  // The `owner` arguments (the Client or Schema that holds the handle) are unused by the native
  // code: a JNI argument stays reachable until the native returns, so its reaper cannot start
  // freeing the handle under the call, nor close it between the Java method's last use of `this`
  // and the call (what Reference.reachabilityFence does, which Android has only from API 28).

  static native void send(Object owner, long client, byte[] json, int off, int len, long id);

  static native long poll(long client, int timeoutMs);

  static native long flush(Object owner, long client, int timeoutMs);

  static native long destroy(long client, int timeoutMs);

  /** evp_client_pause when paused, else evp_client_resume. */
  static native int setPaused(Object owner, long client, boolean paused);

  static native byte[] stats(Object owner, long client);

  static native long schemaCompile(byte[] json);

  static native void schemaDestroy(long schema);

  static native byte[][] schemaValidate(Object owner, long schema, byte[] json, int off, int len);

  static native String errName(int code);

  static native String errText(int code);
}
