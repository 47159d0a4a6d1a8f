#!/usr/bin/env bash
# Fetch the training images into data/train/: the 26 photos of DESIGN.md section 4 and, since
# issue 11, 19 clean renders (ukui-wallpapers, gnome-backgrounds) for flat areas, gradients and
# sharp edges. No package is installed: each .deb is downloaded with apt-get and unpacked with
# dpkg-deb. Licences: GPL-2+, CC-BY, CC-BY-SA, CC0 (see docs/CREDITS.md). Never commit them.
# KDE Plasma wallpaper packages are reserved for acceptance: never add them here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/data/train}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
cd "$work"
pkgs="mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers gnome-backgrounds"
if ! apt-get download $pkgs >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get download $pkgs >/dev/null
fi
for p in $pkgs; do dpkg-deb -x "${p}"_*.deb "$p"; done
cp mate-backgrounds/usr/share/backgrounds/mate/nature/*.jpg "$dest/"
cp lomiri-wallpapers-20.04/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg "$dest/"
for f in lomiri-wallpapers-16.04/usr/share/backgrounds/*_by_*.jpg; do
  case "$(basename "$f")" in
    umang_by_Abhishek_Mudgal.jpg|analogpattern_by_Peter_Nerlich.jpg) ;;
    *) cp "$f" "$dest/" ;;
  esac
done
# renders: the 12 ukui wallpapers (3640-3840 x 2400) and GNOME's 7 light 4096x4096 backgrounds
for f in ukui-wallpapers/usr/share/backgrounds/*.{jpg,png}; do cp "$f" "$dest/ukui_$(basename "$f")"; done
for f in gnome-backgrounds/usr/share/backgrounds/gnome/*-l.webp; do
  case "$(basename "$f")" in vnc-l.webp) ;; *) cp "$f" "$dest/gnome_$(basename "$f")" ;; esac
done
ls "$dest" | wc -l | xargs echo "training images in $dest:"
