#!/usr/bin/env bash
# Fetch the training photos of DESIGN.md section 4 from Debian packages into data/train/.
# No package is installed: each .deb is downloaded with apt-get and unpacked with dpkg-deb.
# Licences: GPL-2+, CC-BY, CC-BY-SA, CC0 (see docs/CREDITS.md). Never commit the photos.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/data/train}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
cd "$work"
if ! apt-get download mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get download mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 >/dev/null
fi
dpkg-deb -x mate-backgrounds_*.deb mate
dpkg-deb -x lomiri-wallpapers-16.04_*.deb l16
dpkg-deb -x lomiri-wallpapers-20.04_*.deb l20
cp mate/usr/share/backgrounds/mate/nature/*.jpg "$dest/"
cp l20/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg "$dest/"
for f in l16/usr/share/backgrounds/*_by_*.jpg; do
  case "$(basename "$f")" in
    umang_by_Abhishek_Mudgal.jpg|analogpattern_by_Peter_Nerlich.jpg) ;;
    *) cp "$f" "$dest/" ;;
  esac
done
ls "$dest" | wc -l | xargs echo "training photos in $dest:"
