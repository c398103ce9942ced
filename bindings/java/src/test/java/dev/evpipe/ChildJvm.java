package dev.evpipe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a test's main class in a child JVM, for tests whose failure is a crash of the JVM. */
final class ChildJvm {
  private ChildJvm() {}

  /**
   * Runs main (a class of the test jar) with the binding's jar and library, in a temporary
   * directory that receives the hs_err file of a crash.
   *
   * @return its output, once it exited 0 within 60 s (otherwise the test fails, showing it).
   */
  static String run(Class<?> main, String... args) throws Exception {
    Path dir = Files.createTempDirectory("evpipe-child");
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-XX:ErrorFile=" + dir.resolve("hs_err_%p.log"));
    cmd.add("-Djava.library.path=" + System.getProperty("java.library.path"));
    cmd.add("-cp");
    cmd.add(jarOf(Schema.class) + File.pathSeparator + jarOf(main));
    cmd.add(main.getName());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM finished");
    assertEquals(0, p.exitValue(), "the child JVM (134: SIGSEGV/abort in Native.schemaValidate):\n"
        + out.substring(0, Math.min(out.length(), 1500)));
    return out;
  }

  private static String jarOf(Class<?> c) throws Exception {
    return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
  }
}
