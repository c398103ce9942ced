#!/usr/bin/env python3
"""Extract the shell blocks of the docs and run them as a reader would.

Used by tests/scripts/test_docs_commands.sh; the conventions are in
docs/README.md ("Commands in the docs are tested"). Standard library only.

Every fenced block tagged sh, bash, shell or console in README.md, docs/*.md
and examples/**/README.md runs, in document order, in one bash session per
file (variables, `cd` and exports carry from one block to the next, as in a
reader's terminal), from a scratch copy of the repository root whose
`./build` is the build under test. A block fails when a command in it fails
(bash -e). A comment right before the fence changes that:

  <!-- docs-test: skip: REASON -->          not run; the reason is printed
  <!-- docs-test: covered-by: PATH -->      not run; PATH (a test or .ci/run
                                            that runs the same commands) must exist
  <!-- docs-test: background -->           the whole block runs in the background
  <!-- docs-test: background-line: PREFIX -->  lines starting with PREFIX do
                                            (each waits until 127.0.0.1:8080 answers HTTP)
  <!-- docs-test: expect: REGEX -->         its output must also match REGEX
  <!-- docs-test: known-failing: ISSUE -->  runs; must fail (passes: remove the marker)
  <!-- docs-test: file NAME -->             (any fence) the block's text is
                                            written to NAME in the scratch copy
                                            before the next shell block runs
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

SHELL_LANGS = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
# The language is the info string's first word (CommonMark; GitHub shows
# ```sh title="x" as sh): the rest must not turn the fence into text.
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([A-Za-z0-9_+-]*)(?:\s+[^`]*)?\s*$")
# The README's install-and-build line is the docs' premise ("after the
# README's build command"): the test runs on the build it belongs to, and
# .ci/run runs that line itself. Lines that are exactly this are taken as done.
GIVEN = "./scripts/install-deps && cmake -S . -B build && cmake --build build -j2"
LISTEN = ("127.0.0.1", 8080)


class Block:
    def __init__(self, path, line, lang, text, markers):
        self.path, self.line, self.lang, self.text = path, line, lang, text
        self.markers = markers
        self.problems = []
        self.action = "run"  # run | skip | covered | file
        self.reason = ""
        self.background = None  # None | "" (whole block) | line prefix
        self.known_failing = None
        self.file_name = None
        self.expect = []  # regular expressions the block's output must match


def parse(root, rel):
    """Blocks of one Markdown file, with the markers right before each fence."""
    lines = open(os.path.join(root, rel), encoding="utf-8").read().split("\n")
    blocks, pending, i = [], [], 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            pending.append(m.group(1))
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if lines[i].strip():
                pending = []  # a marker belongs to the fence right after it
            i += 1
            continue
        indent, fence, lang = f.group(1), f.group(2), f.group(3).lower()
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[:3]) and not lines[i].strip()[3:].strip()):
            ln = lines[i]
            body.append(ln[len(indent):] if ln.startswith(indent) else ln.lstrip())
            i += 1
        i += 1  # the closing fence
        b = Block(rel, start, lang, "\n".join(body) + "\n", pending)
        pending = []
        classify(root, b)
        if lang in SHELL_LANGS or b.file_name or b.markers:
            blocks.append(b)
    return blocks


def classify(root, b):
    for mk in b.markers:
        key, _, arg = mk.partition(":")
        key, arg = key.strip(), arg.strip()
        if key == "skip":
            b.action, b.reason = "skip", arg
            if not arg:
                b.problems.append("'skip' marker without a reason (write <!-- docs-test: skip: WHY -->)")
        elif key == "covered-by":
            b.action, b.reason = "covered", arg
            if not arg:
                b.problems.append("'covered-by' marker without a path")
            elif not os.path.exists(os.path.join(root, arg.split()[0])):
                b.problems.append("'covered-by' names %s, which does not exist" % arg.split()[0])
        elif key == "background":
            b.background = ""
        elif key == "background-line":
            if not arg:
                b.problems.append("'background-line' marker without the line's beginning")
            b.background = arg
        elif key == "expect":
            try:
                b.expect.append(re.compile(arg, re.M))
            except re.error as e:
                b.problems.append("'expect' marker with a bad regular expression: %s" % e)
            if not arg:
                b.problems.append("'expect' marker without a regular expression")
        elif key == "known-failing":
            b.known_failing = arg
            if not arg:
                b.problems.append("'known-failing' marker without an issue")
        elif key.startswith("file ") or key == "file":
            name = key[5:].strip()
            if not name or os.path.isabs(name) or ".." in name.split("/"):
                b.problems.append("'file' marker needs a relative file name")
            b.file_name, b.action = name, "file"
        else:
            b.problems.append("unknown docs-test marker %r" % mk)
    if b.action == "file" and b.lang in SHELL_LANGS:
        b.problems.append("'file' marker on a shell block (it would not run)")
    if b.action == "run" and b.lang not in SHELL_LANGS:
        b.problems.append("docs-test marker on a %s block, which is never run" % (b.lang or "plain"))


def commands(b):
    """The block's text as bash runs it: console prompts stripped, the
    README's build line taken as given, background lines wrapped."""
    out = []
    lines = b.text.split("\n")
    if b.lang == "console":
        cmd, cont = [], False
        for ln in lines:
            if ln.startswith("$ "):
                cmd.append(ln[2:])
                cont = ln.rstrip().endswith("\\")
            elif cont:
                cmd.append(ln)
                cont = ln.rstrip().endswith("\\")
            # anything else is the output a reader sees
        lines = cmd
    for ln in lines:
        s = ln.strip()
        if s == GIVEN:
            out.append(": given, the build command of the README: " + shlex.quote(s))
        elif b.background and s.startswith(b.background):
            # a trailing & (the reader's way to keep the shell) is implied
            out.append("__evp_background " + shlex.quote(re.sub(r"\s*&\s*$", "", ln)))
        else:
            out.append(ln)
    text = "\n".join(out) + "\n"
    if b.background == "":
        text = "__evp_background " + shlex.quote(text) + "\n"
    return text


DRIVER_HEAD = r"""
__evp_background() {  # run $1 apart, wait until 127.0.0.1:%(port)d answers HTTP
  ( eval "$1" ) >>"$__EVP_DIR/background.log" 2>&1 &
  local pid=$! i
  echo "$pid" >>"$__EVP_DIR/background.pids"
  # An answer, not only a connect: evpipe local binds its port first and
  # creates its clients file after, so a connect alone raced the next block.
  for i in $(seq 1 300); do
    if (exec 3<>/dev/tcp/%(host)s/%(port)d &&
      printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && IFS= read -r -t 2 line <&3 &&
      case "$line" in HTTP/1.*) true ;; *) false ;; esac) 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "docs-test: the background command exited before %(host)s:%(port)d listened:" >&2
      tail -n 20 "$__EVP_DIR/background.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "docs-test: nothing answers HTTP on %(host)s:%(port)d 30 s after the background command" >&2
  return 1
}
""" % {"host": LISTEN[0], "port": LISTEN[1]}


def make_scratch(src, binary, base, rel):
    d = os.path.join(base, re.sub(r"[^A-Za-z0-9]+", "_", rel))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "repo"))
    repo = os.path.join(d, "repo")
    # A copy (5 MB), not links: what a block writes (a venv's build files,
    # a compiled example next to its source) must not land in the source tree.
    # Build directories stay out; node_modules (76 MB, read only) is linked.
    linked = []

    def ignore(directory, names):
        if "node_modules" in names:
            linked.append(os.path.relpath(os.path.join(directory, "node_modules"), src))
            return ["node_modules"]
        return []
    for name in os.listdir(src):
        if name in (".git", "build", "dist") or name.startswith("build-"):
            continue
        s, t = os.path.join(src, name), os.path.join(repo, name)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, t, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(s, t, follow_symlinks=False)
    for rel_nm in linked:
        os.symlink(os.path.join(src, rel_nm), os.path.join(repo, rel_nm))
    os.symlink(binary, os.path.join(repo, "build"))
    os.makedirs(os.path.join(d, "home"))
    os.makedirs(os.path.join(d, "bin"))
    os.symlink(os.path.join(binary, "evpipe"), os.path.join(d, "bin", "evpipe"))
    return d


def tail(path, n=25):
    try:
        lines = open(path, errors="replace").read().rstrip("\n").split("\n")
    except OSError:
        return ""
    return "\n".join("      | " + ln for ln in lines[-n:])


def run_file(args, rel, blocks, env_extra):
    """Runs the file's blocks; returns (ran, failed) and prints the details."""
    d = make_scratch(args.source, args.binary, args.scratch, rel)
    repo = os.path.join(d, "repo")
    script = ["set -e", "cd " + shlex.quote(repo), DRIVER_HEAD]
    steps = []
    for b in blocks:
        if b.problems or b.action in ("skip", "covered"):
            continue
        n = len(steps)
        if b.action == "file":
            target = os.path.join(repo, b.file_name)
            bf = os.path.join(d, "file.%d" % n)
            open(bf, "w").write(b.text)
            script.append("cp %s %s" % (shlex.quote(bf), shlex.quote(target)))
            continue
        bf = os.path.join(d, "block.%d.sh" % n)
        open(bf, "w").write(commands(b))
        log = os.path.join(d, "block.%d.log" % n)
        rc = os.path.join(d, "block.%d.rc" % n)
        script.append("__EVP_RC=%s; echo running >\"$__EVP_RC\"" % shlex.quote(rc))
        if b.known_failing:
            # not an `if` condition: bash ignores -e there
            script.append("set +e; ( set -e; . %s ) >%s 2>&1 </dev/null; echo $? >\"$__EVP_RC\"; set -e"
                          % (shlex.quote(bf), shlex.quote(log)))
        else:
            script.append(". %s >%s 2>&1 </dev/null; echo 0 >\"$__EVP_RC\"" % (shlex.quote(bf), shlex.quote(log)))
        steps.append((b, log, rc))
    open(os.path.join(d, "driver.sh"), "w").write("\n".join(script) + "\n")
    env = dict(os.environ)
    env.update(env_extra)
    env.update({"HOME": os.path.join(d, "home"), "__EVP_DIR": d,
                "PATH": os.path.join(d, "bin") + os.pathsep + os.environ.get("PATH", "")})
    t0 = time.monotonic()
    p = subprocess.Popen(["bash", os.path.join(d, "driver.sh")], cwd=repo, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    # The driver's EXIT status goes to the block that was running (set -e).
    timed_out = False
    try:
        code = p.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out, code = True, None
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the file's servers, its `&` jobs
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        time.sleep(0.5 if sig == signal.SIGTERM else 0)
    p.wait()
    ran = passed = failed = 0
    for b, log, rcf in steps:
        state = open(rcf).read().strip() if os.path.exists(rcf) else None
        where = "%s:%d" % (b.path, b.line)
        if state is None and failed:
            print("  not run  %s (an earlier block failed)" % where)
            continue
        if state is None:
            # Nothing failed before it, yet the session ended: an earlier
            # block ran `exit` or `exec`, or a file marker's text could not
            # be written. A block that did not run is not a block that works.
            failed += 1
            print("  FAIL     %s (not run: the file's shell session ended before it, with no block"
                  " failing; an `exit` or `exec` in an earlier block, or a file marker that could"
                  " not be written? see %s)" % (where, os.path.join(d, "driver.sh")))
            continue
        ran += 1
        if state == "running":
            why = ("timed out after %d s: a server in the foreground? see docs/README.md, background"
                   % args.timeout) if timed_out else "exit %s" % code
        else:
            why = "exit " + state
        ok = state == "0"
        if ok and b.expect:
            text = open(log, errors="replace").read()
            missing = [e.pattern for e in b.expect if not e.search(text)]
            if missing:
                ok, why = False, "exit 0, but its output has no match for /%s/" % "/, /".join(missing)
        if b.known_failing:
            if ok:
                print("  FAIL     %s passes, but is marked known-failing: %s: remove the marker" % (where, b.known_failing))
                failed += 1
            else:
                print("  known-failing %s (%s): %s" % (where, b.known_failing, why))
                passed += 1
            continue
        if ok:
            print("  ok       %s" % where)
            passed += 1
            continue
        failed += 1
        print("  FAIL     %s (%s); the block:" % (where, why))
        print("\n".join("        " + ln for ln in b.text.rstrip("\n").split("\n")))
        print("    its output (last lines):")
        print(tail(log))
        print("    (its scratch directory, kept: %s)" % d)
        bg = os.path.join(d, "background.log")
        if os.path.exists(bg):
            print("    background commands' output (last lines):")
            print(tail(bg, 10))
    print("  (%s: %.1f s)" % (rel, time.monotonic() - t0))
    return ran, passed, failed


def doc_files(src, only):
    if only:
        return only
    def rel(pattern):
        found = glob.glob(os.path.join(src, pattern), recursive=True)
        return sorted(os.path.relpath(f, src) for f in found)
    files = ["README.md"] + rel("docs/*.md") + rel("examples/**/README.md")
    return [f for f in files if os.path.isfile(os.path.join(src, f))]


def prepare_env(args, files_blocks):
    """What the docs promise a reader beyond ./build: an installed library
    for the blocks that use pkg-config (a prefix of the scratch dir, found
    through PKG_CONFIG_PATH), and Go's caches kept out of the scratch HOME."""
    env = {}
    runnable = [b for bs in files_blocks for b in bs if not b.problems and b.action == "run"]
    if any("pkg-config" in b.text for b in runnable):
        prefix = os.path.join(args.scratch, "prefix")
        shutil.rmtree(prefix, ignore_errors=True)
        subprocess.run(["cmake", "--install", args.binary, "--prefix", prefix],
                       check=True, stdout=subprocess.DEVNULL)
        pc = glob.glob(os.path.join(prefix, "lib*", "pkgconfig")) + \
            glob.glob(os.path.join(prefix, "lib", "*", "pkgconfig"))
        env["PKG_CONFIG_PATH"] = os.pathsep.join(pc)
    if shutil.which("go") and any(re.search(r"\bgo (run|build)\b", b.text) for b in runnable):
        out = subprocess.run(["go", "env", "GOCACHE", "GOMODCACHE", "GOPATH"], capture_output=True,
                             text=True).stdout.split("\n")
        for k, v in zip(("GOCACHE", "GOMODCACHE", "GOPATH"), out):
            if v:
                env[k] = v
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--timeout", type=int, default=60, help="seconds per file")
    ap.add_argument("--list", action="store_true", help="print the blocks and markers only")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    args.source, args.binary = os.path.realpath(args.source), os.path.realpath(args.binary)
    os.makedirs(args.scratch, exist_ok=True)
    passed = failed = 0
    files = doc_files(args.source, args.files)
    parsed = [parse(args.source, rel) for rel in files]
    env_extra = {} if args.list else prepare_env(args, parsed)
    for rel, blocks in zip(files, parsed):
        shell = [b for b in blocks if b.lang in SHELL_LANGS]
        if not shell and not any(b.problems for b in blocks):
            continue
        skipped = [b for b in shell if b.action in ("skip", "covered") and not b.problems]
        print("%s: %d shell block(s)" % (rel, len(shell)))
        for b in blocks:
            if b.problems:
                for pr in b.problems:
                    print("  FAIL     %s:%d: %s" % (b.path, b.line, pr))
                    failed += 1
        for b in skipped:
            print("  %-8s %s:%d: %s" % ("skipped" if b.action == "skip" else "covered", b.path, b.line,
                                        b.reason if b.action == "skip" else "by " + b.reason))
        if args.list:
            continue
        torun = [b for b in blocks if not b.problems and b.action in ("run", "file")]
        ran = good = bad = 0
        if any(b.action == "run" for b in torun):
            ran, good, bad = run_file(args, rel, torun, env_extra)
        covered = sum(1 for b in skipped if b.action == "covered")
        print("  %s: ran %d, skipped %d (%d covered by another test), failed %d"
              % (rel, ran, len(skipped), covered, bad))
        passed += good
        failed += bad
    print("docs blocks: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
