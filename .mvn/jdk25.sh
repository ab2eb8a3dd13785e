# Sourced by mvnw, hmm and .ci/run: points JAVA_HOME at a JDK 25 or newer, or fails with one line.
# Order: $JAVA_HOME, then the usual JDK folders. POSIX sh; safe under `set -euf`.
hmm_jdk_major() {
  # prints the feature version of the JDK in $1 (e.g. 25), or nothing
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

hmm_use_jdk25() {
  _hmm_restore_f=$(case $- in *f*) echo yes ;; esac)
  set +f
  for _hmm_c in "${JAVA_HOME-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25* \
      /usr/lib/jvm/*-25* /usr/lib/jvm/jdk-25* /usr/lib/jvm/java-25* /opt/java/jdk-25* /opt/jdk-25* \
      "$HOME"/.sdkman/candidates/java/25* "$HOME"/.jdks/*25* /Library/Java/JavaVirtualMachines/*25*/Contents/Home \
      /usr/lib/jvm/* ; do
    [ -n "$_hmm_c" ] || continue
    _hmm_m=$(hmm_jdk_major "$_hmm_c")
    if [ -n "$_hmm_m" ] && [ "$_hmm_m" -ge 25 ]; then
      JAVA_HOME=$_hmm_c
      export JAVA_HOME
      [ -z "$_hmm_restore_f" ] || set -f
      return 0
    fi
  done
  [ -z "$_hmm_restore_f" ] || set -f
  echo "hmm: no JDK 25 found (JAVA_HOME=${JAVA_HOME-unset}, searched /usr/lib/jvm and the usual folders); install Temurin 25 or set JAVA_HOME to a JDK 25" >&2
  return 1
}
