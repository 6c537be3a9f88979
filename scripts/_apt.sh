# Sourced by scripts/test and scripts/messages: install a Debian package they need, but never silently.
# Only as root with apt-get at hand (can_apt_install); otherwise the script says what to install by hand.

can_apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

# apt_install_saying_why "<why it is needed>" package...: print why and the exact commands, then run them.
apt_install_saying_why() {
  local why="$1"; shift
  echo "hotline: $why."
  echo "hotline: installing $* with apt (running as root): apt-get update && apt-get install -y $*"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null
}
