#!/bin/sh
# Builds a minimal root file system tarball from Debian's busybox-static: one static binary, a
# symlink per applet, and the /etc files containers expect. Images cannot be pulled on this
# project's machines, so this is where test and demo images come from.
#
# usage: scripts/busybox-rootfs.sh OUT.tar
set -eu
out=${1:?usage: $0 OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
if ! "$bb" --list >/dev/null 2>&1; then
  echo "$0: $bb is missing: apt-get install -y busybox-static" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/root" \
  "$dir/var/www" "$dir/home" "$dir/usr/bin" "$dir/usr/sbin" "$dir/sbin"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$dir/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
www-data:x:33:
users:x:100:
nogroup:x:65534:
GROUP
echo 'hello from berth' > "$dir/var/www/index.html"
tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$out" .
