"""The text of the configuration files an examiner opens first, as Debian 12 (bookworm)'s packages ship them.

:data:`SHIPPED` maps a path the catalog installs (a conffile under ``/etc``, or a file a package keeps beside it
such as ``/usr/share/base-files/profile``) to its default text, comment lines included, as the package in the
catalog's version leaves it on a fresh install; :mod:`.tree` writes these bytes instead of :func:`.texts.config`'s
filler, and dpkg's ``md5sums``/``conffiles`` are computed from them. :data:`INSTALLED` holds files no package
ships but every bookworm desktop has, written by the installer or a maintainer script (``/etc/nsswitch.conf`` from
libc-bin's template, ``/etc/shells`` by ``add-shell``): the same on every case, never in dpkg's known-good set.

Written from knowledge of the packages, then checked line for line against the files in bookworm's .deb archives
(never downloaded at build or test time): the same on every machine.
"""

from __future__ import annotations

_SYSTEMD_HEAD = """\
#  This file is part of systemd.
#
#  systemd is free software; you can redistribute it and/or modify it under the
#  terms of the GNU Lesser General Public License as published by the Free
#  Software Foundation; either version 2.1 of the License, or (at your option)
#  any later version.
#
# Entries in this file show the compile time defaults. Local configuration
# should be created by either modifying this file, or by creating "drop-ins" in
# the {name}.d/ subdirectory. The latter is generally recommended.
# Defaults can be restored by simply deleting this file and all drop-ins.
#
# Use 'systemd-analyze cat-config systemd/{name}' to display the full config.
#
# See {man} for details.

"""


def _systemd(name: str, man: str, body: str) -> str:
    return _SYSTEMD_HEAD.format(name=name, man=man) + body


_PAM_AUTO = """\
# As of pam 1.0.1-6, this file is managed by pam-auth-update by default.
# To take advantage of this, it is recommended that you configure any
# local modules either before or after the default block, and use
# pam-auth-update to manage selection of other modules.  See
# pam-auth-update(8) for details.
"""

_PAM_BLOCK = """\
# here are the per-package modules (the "Primary" block)
{primary}
# here's the fallback if no module succeeds
{kind}\trequisite\t\t\tpam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
{kind}\trequired\t\t\tpam_permit.so
# and here are more per-package modules (the "Additional" block)
{additional}# end of pam-auth-update config
"""


def _pam_block(kind: str, primary: str, additional: str = "") -> str:
    return _PAM_BLOCK.format(kind=kind, primary=primary, additional=additional)


_SESSION_HEAD = """\
#
# /etc/pam.d/common-session{suffix} - session-related modules{common}
#
# This file is included from other service-specific PAM config files,
# and should contain a list of modules that define tasks to be performed
# at the start and end of {which}sessions.
#
"""

OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

_PROFILE = """\
# /etc/profile: system-wide .profile file for the Bourne shell (sh(1))
# and Bourne compatible shells (bash(1), ksh(1), ash(1), ...).

if [ "$(id -u)" -eq 0 ]; then
  PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
else
  PATH="/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
fi
export PATH

if [ "${PS1-}" ]; then
  if [ "${BASH-}" ] && [ "$BASH" != "/bin/sh" ]; then
    # The file bash.bashrc already sets the default PS1.
    # PS1='\\h:\\w\\$ '
    if [ -f /etc/bash.bashrc ]; then
      . /etc/bash.bashrc
    fi
  else
    if [ "$(id -u)" -eq 0 ]; then
      PS1='# '
    else
      PS1='$ '
    fi
  fi
fi

if [ -d /etc/profile.d ]; then
  for i in /etc/profile.d/*.sh; do
    if [ -r $i ]; then
      . $i
    fi
  done
  unset i
fi
"""

_MOTD = """\

The programs included with the Debian GNU/Linux system are free software;
the exact distribution terms for each program are described in the
individual files in /usr/share/doc/*/copyright.

Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent
permitted by applicable law.
"""

_SKEL_BASHRC = """\
# ~/.bashrc: executed by bash(1) for non-login shells.
# see /usr/share/doc/bash/examples/startup-files (in the package bash-doc)
# for examples

# If not running interactively, don't do anything
case $- in
    *i*) ;;
      *) return;;
esac

# don't put duplicate lines or lines starting with space in the history.
# See bash(1) for more options
HISTCONTROL=ignoreboth

# append to the history file, don't overwrite it
shopt -s histappend

# for setting history length see HISTSIZE and HISTFILESIZE in bash(1)
HISTSIZE=1000
HISTFILESIZE=2000

# check the window size after each command and, if necessary,
# update the values of LINES and COLUMNS.
shopt -s checkwinsize

# If set, the pattern "**" used in a pathname expansion context will
# match all files and zero or more directories and subdirectories.
#shopt -s globstar

# make less more friendly for non-text input files, see lesspipe(1)
#[ -x /usr/bin/lesspipe ] && eval "$(SHELL=/bin/sh lesspipe)"

# set variable identifying the chroot you work in (used in the prompt below)
if [ -z "${debian_chroot:-}" ] && [ -r /etc/debian_chroot ]; then
    debian_chroot=$(cat /etc/debian_chroot)
fi

# set a fancy prompt (non-color, unless we know we "want" color)
case "$TERM" in
    xterm-color|*-256color) color_prompt=yes;;
esac

# uncomment for a colored prompt, if the terminal has the capability; turned
# off by default to not distract the user: the focus in a terminal window
# should be on the output of commands, not on the prompt
#force_color_prompt=yes

if [ -n "$force_color_prompt" ]; then
    if [ -x /usr/bin/tput ] && tput setaf 1 >&/dev/null; then
\t# We have color support; assume it's compliant with Ecma-48
\t# (ISO/IEC-6429). (Lack of such support is extremely rare, and such
\t# a case would tend to support setf rather than setaf.)
\tcolor_prompt=yes
    else
\tcolor_prompt=
    fi
fi

if [ "$color_prompt" = yes ]; then
   \
 PS1='${debian_chroot:+($debian_chroot)}\\[\\033[01;32m\\]\\u@\\h\\[\\033[00m\\]:\\[\\033[01;34m\\]\\w\\[\\033[00m\\]\\$\
 '
else
    PS1='${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ '
fi
unset color_prompt force_color_prompt

# If this is an xterm set the title to user@host:dir
case "$TERM" in
xterm*|rxvt*)
    PS1="\\[\\e]0;${debian_chroot:+($debian_chroot)}\\u@\\h: \\w\\a\\]$PS1"
    ;;
*)
    ;;
esac

# enable color support of ls and also add handy aliases
if [ -x /usr/bin/dircolors ]; then
    test -r ~/.dircolors && eval "$(dircolors -b ~/.dircolors)" || eval "$(dircolors -b)"
    alias ls='ls --color=auto'
    #alias dir='dir --color=auto'
    #alias vdir='vdir --color=auto'

    #alias grep='grep --color=auto'
    #alias fgrep='fgrep --color=auto'
    #alias egrep='egrep --color=auto'
fi

# colored GCC warnings and errors
#export GCC_COLORS='error=01;31:warning=01;35:note=01;36:caret=01;32:locus=01:quote=01'

# some more ls aliases
#alias ll='ls -l'
#alias la='ls -A'
#alias l='ls -CF'

# Alias definitions.
# You may want to put all your additions into a separate file like
# ~/.bash_aliases, instead of adding them here directly.
# See /usr/share/doc/bash-doc/examples in the bash-doc package.

if [ -f ~/.bash_aliases ]; then
    . ~/.bash_aliases
fi

# enable programmable completion features (you don't need to enable
# this, if it's already enabled in /etc/bash.bashrc and /etc/profile
# sources /etc/bash.bashrc).
if ! shopt -oq posix; then
  if [ -f /usr/share/bash-completion/bash_completion ]; then
    . /usr/share/bash-completion/bash_completion
  elif [ -f /etc/bash_completion ]; then
    . /etc/bash_completion
  fi
fi
"""

_SKEL_PROFILE = """\
# ~/.profile: executed by the command interpreter for login shells.
# This file is not read by bash(1), if ~/.bash_profile or ~/.bash_login
# exists.
# see /usr/share/doc/bash/examples/startup-files for examples.
# the files are located in the bash-doc package.

# the default umask is set in /etc/profile; for setting the umask
# for ssh logins, install and configure the libpam-umask package.
#umask 022

# if running bash
if [ -n "$BASH_VERSION" ]; then
    # include .bashrc if it exists
    if [ -f "$HOME/.bashrc" ]; then
\t. "$HOME/.bashrc"
    fi
fi

# set PATH so it includes user's private bin if it exists
if [ -d "$HOME/bin" ] ; then
    PATH="$HOME/bin:$PATH"
fi

# set PATH so it includes user's private bin if it exists
if [ -d "$HOME/.local/bin" ] ; then
    PATH="$HOME/.local/bin:$PATH"
fi
"""

_SKEL_LOGOUT = """\
# ~/.bash_logout: executed by bash(1) when login shell exits.

# when leaving the console clear the screen to increase privacy

if [ "$SHLVL" = 1 ]; then
    [ -x /usr/bin/clear_console ] && /usr/bin/clear_console -q
fi
"""

_BASH_BASHRC = """\
# System-wide .bashrc file for interactive bash(1) shells.

# To enable the settings / commands in this file for login shells as well,
# this file has to be sourced in /etc/profile.

# If not running interactively, don't do anything
[ -z "$PS1" ] && return

# check the window size after each command and, if necessary,
# update the values of LINES and COLUMNS.
shopt -s checkwinsize

# set variable identifying the chroot you work in (used in the prompt below)
if [ -z "${debian_chroot:-}" ] && [ -r /etc/debian_chroot ]; then
    debian_chroot=$(cat /etc/debian_chroot)
fi

# set a fancy prompt (non-color, overwrite the one in /etc/profile)
# but only if not SUDOing and have SUDO_PS1 set; then assume smart user.
if ! [ -n "${SUDO_USER}" -a -n "${SUDO_PS1}" ]; then
  PS1='${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ '
fi

# Commented out, don't overwrite xterm -T "title" -n "icontitle" by default.
# If this is an xterm set the title to user@host:dir
#case "$TERM" in
#xterm*|rxvt*)
#    PROMPT_COMMAND='echo -ne "\\033]0;${USER}@${HOSTNAME}: ${PWD}\\007"'
#    ;;
#*)
#    ;;
#esac

# enable bash completion in interactive shells
#if ! shopt -oq posix; then
#  if [ -f /usr/share/bash-completion/bash_completion ]; then
#    . /usr/share/bash-completion/bash_completion
#  elif [ -f /etc/bash_completion ]; then
#    . /etc/bash_completion
#  fi
#fi

# if the command-not-found package is installed, use it
if [ -x /usr/lib/command-not-found -o -x /usr/share/command-not-found/command-not-found ]; then
\tfunction command_not_found_handle {
\t        # check because c-n-f could've been removed in the meantime
                if [ -x /usr/lib/command-not-found ]; then
\t\t   /usr/lib/command-not-found -- "$1"
                   return $?
                elif [ -x /usr/share/command-not-found/command-not-found ]; then
\t\t   /usr/share/command-not-found/command-not-found -- "$1"
                   return $?
\t\telse
\t\t   printf "%s: command not found\\n" "$1" >&2
\t\t   return 127
\t\tfi
\t}
fi
"""

_RSYSLOG = """\
# /etc/rsyslog.conf configuration file for rsyslog
#
# For more information install rsyslog-doc and see
# /usr/share/doc/rsyslog-doc/html/configuration/index.html


#################
#### MODULES ####
#################

module(load="imuxsock") # provides support for local system logging
module(load="imklog")   # provides kernel logging support
#module(load="immark")  # provides --MARK-- message capability

# provides UDP syslog reception
#module(load="imudp")
#input(type="imudp" port="514")

# provides TCP syslog reception
#module(load="imtcp")
#input(type="imtcp" port="514")


###########################
#### GLOBAL DIRECTIVES ####
###########################

#
# Set the default permissions for all log files.
#
$FileOwner root
$FileGroup adm
$FileCreateMode 0640
$DirCreateMode 0755
$Umask 0022

#
# Where to place spool and state files
#
$WorkDirectory /var/spool/rsyslog

#
# Include all config files in /etc/rsyslog.d/
#
$IncludeConfig /etc/rsyslog.d/*.conf


###############
#### RULES ####
###############

#
# Log anything besides private authentication messages to a single log file
#
*.*;auth,authpriv.none\t\t-/var/log/syslog

#
# Log commonly used facilities to their own log file
#
auth,authpriv.*\t\t\t/var/log/auth.log
cron.*\t\t\t\t-/var/log/cron.log
kern.*\t\t\t\t-/var/log/kern.log
mail.*\t\t\t\t-/var/log/mail.log
user.*\t\t\t\t-/var/log/user.log

#
# Emergencies are sent to everybody logged in.
#
*.emerg\t\t\t\t:omusrmsg:*
"""

_PAM_SSHD = """\
# PAM configuration for the Secure Shell service

# Standard Un*x authentication.
@include common-auth

# Disallow non-root logins when /etc/nologin exists.
account    required     pam_nologin.so

# Uncomment and edit /etc/security/access.conf if you need to set complex
# access limits that are hard to express in sshd_config.
# account  required     pam_access.so

# Standard Un*x authorization.
@include common-account

# SELinux needs to be the first session rule.  This ensures that any
# lingering context has been cleared.  Without this it is possible that a
# module could execute code in the wrong domain.
session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_selinux.so close

# Set the loginuid process attribute.
session    required     pam_loginuid.so

# Create a new session keyring.
session    optional     pam_keyinit.so force revoke

# Standard Un*x session setup and teardown.
@include common-session

# Print the message of the day upon successful login.
# This includes a dynamically generated part from /run/motd.dynamic
# and a static (admin-editable) part from /etc/motd.
session    optional     pam_motd.so  motd=/run/motd.dynamic
session    optional     pam_motd.so noupdate

# Print the status of the user's mailbox upon successful login.
session    optional     pam_mail.so standard noenv # [1]

# Set up user limits from /etc/security/limits.conf.
session    required     pam_limits.so

# Read environment variables from /etc/environment and
# /etc/security/pam_env.conf.
session    required     pam_env.so # [1]
# In Debian 4.0 (etch), locale-related environment variables were moved to
# /etc/default/locale, so read that as well.
session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale

# SELinux needs to intervene at login time to ensure that the process starts
# in the proper default security context.  Only sessions which are intended
# to run in the user's context should be run after this.
session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_selinux.so open

# Standard Un*x password updating.
@include common-password
"""

_PAM_LOGIN = ("#\n"
              "# The PAM configuration file for the Shadow `login' service\n"
              "#\n"
              "\n"
              "# Enforce a minimal delay in case of failure (in microseconds).\n"
              "# (Replaces the `FAIL_DELAY' setting from login.defs)\n"
              "# Note that other modules may require another minimal delay. (for example,\n"
              "# to disable any delay, you should add the nodelay option to pam_unix)\n"
              "auth       optional   pam_faildelay.so  delay=3000000\n"
              "\n"
              "# Outputs an issue file prior to each login prompt (Replaces the\n"
              "# ISSUE_FILE option from login.defs). Uncomment for use\n"
              "# auth       required   pam_issue.so issue=/etc/issue\n"
              "\n"
              "# Disallows other than root logins when /etc/nologin exists\n"
              "# (Replaces the `NOLOGINS_FILE' option from login.defs)\n"
              "auth       requisite  pam_nologin.so\n"
              "\n"
              "# SELinux needs to be the first session rule. This ensures that any\n"
              "# lingering context has been cleared. Without this it is possible\n"
              "# that a module could execute code in the wrong domain.\n"
              "# When the module is present, \"required\" would be sufficient (When SELinux\n"
              "# is disabled, this returns success.)\n"
              "session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close\n"
              "\n"
              "# Sets the loginuid process attribute\n"
              "session    required     pam_loginuid.so\n"
              "\n"
              "# Prints the message of the day upon successful login.\n"
              "# (Replaces the `MOTD_FILE' option in login.defs)\n"
              "# This includes a dynamically generated part from /run/motd.dynamic\n"
              "# and a static (admin-editable) part from /etc/motd.\n"
              "session    optional   pam_motd.so motd=/run/motd.dynamic\n"
              "session    optional   pam_motd.so noupdate\n"
              "\n"
              "# SELinux needs to intervene at login time to ensure that the process\n"
              "# starts in the proper default security context. Only sessions which are\n"
              "# intended to run in the user's context should be run after this.\n"
              "# pam_selinux.so changes the SELinux context of the used TTY and configures\n"
              "# SELinux in order to transition to the user context with the next execve()\n"
              "# call.\n"
              "session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so open\n"
              "# When the module is present, \"required\" would be sufficient (When SELinux\n"
              "# is disabled, this returns success.)\n"
              "\n"
              "# This module parses environment configuration file(s)\n"
              "# and also allows you to use an extended config\n"
              "# file /etc/security/pam_env.conf.\n"
              "# \n"
              "# parsing /etc/environment needs \"readenv=1\"\n"
              "session       required   pam_env.so readenv=1\n"
              "# locale variables are also kept into /etc/default/locale in etch\n"
              "# reading this file *in addition to /etc/environment* does not hurt\n"
              "session       required   pam_env.so readenv=1 envfile=/etc/default/locale\n"
              "\n"
              "# Standard Un*x authentication.\n"
              "@include common-auth\n"
              "\n"
              "# This allows certain extra groups to be granted to a user\n"
              "# based on things like time of day, tty, service, and user.\n"
              "# Please edit /etc/security/group.conf to fit your needs\n"
              "# (Replaces the `CONSOLE_GROUPS' option in login.defs)\n"
              "auth       optional   pam_group.so\n"
              "\n"
              "# Uncomment and edit /etc/security/time.conf if you need to set\n"
              "# time restraint on logins.\n"
              "# (Replaces the `PORTTIME_CHECKS_ENAB' option from login.defs\n"
              "# as well as /etc/porttime)\n"
              "# account    requisite  pam_time.so\n"
              "\n"
              "# Uncomment and edit /etc/security/access.conf if you need to\n"
              "# set access limits.\n"
              "# (Replaces /etc/login.access file)\n"
              "# account  required       pam_access.so\n"
              "\n"
              "# Sets up user limits according to /etc/security/limits.conf\n"
              "# (Replaces the use of /etc/limits in old login)\n"
              "session    required   pam_limits.so\n"
              "\n"
              "# Prints the last login info upon successful login\n"
              "# (Replaces the `LASTLOG_ENAB' option from login.defs)\n"
              "session    optional   pam_lastlog.so\n"
              "\n"
              "# Prints the status of the user's mailbox upon successful login\n"
              "# (Replaces the `MAIL_CHECK_ENAB' option from login.defs). \n"
              "#\n"
              "# This also defines the MAIL environment variable\n"
              "# However, userdel also needs MAIL_DIR and MAIL_FILE variables\n"
              "# in /etc/login.defs to make sure that removing a user \n"
              "# also removes the user's mail spool file.\n"
              "# See comments in /etc/login.defs\n"
              "session    optional   pam_mail.so standard\n"
              "\n"
              "# Create a new session keyring.\n"
              "session    optional   pam_keyinit.so force revoke\n"
              "\n"
              "# Standard Un*x account and session\n"
              "@include common-account\n"
              "@include common-session\n"
              "@include common-password\n")

_PAM_SU = ("#\n"
           "# The PAM configuration file for the Shadow `su' service\n"
           "#\n"
           "\n"
           "# This allows root to su without passwords (normal operation)\n"
           "auth       sufficient pam_rootok.so\n"
           "\n"
           "# Uncomment this to force users to be a member of group wheel\n"
           "# before they can use `su'. You can also add \"group=foo\"\n"
           "# to the end of this line if you want to use a group other\n"
           "# than the default \"wheel\" (but this may have side effect of\n"
           "# denying \"root\" user, unless she's a member of \"foo\" or explicitly\n"
           "# permitted earlier by e.g. \"sufficient pam_rootok.so\").\n"
           "# (Replaces the `SU_WHEEL_ONLY' option from login.defs)\n"
           "# auth       required   pam_wheel.so\n"
           "\n"
           "# Uncomment this if you want wheel members to be able to\n"
           "# su without a password.\n"
           "# auth       sufficient pam_wheel.so trust\n"
           "\n"
           "# Uncomment this if you want members of a specific group to not\n"
           "# be allowed to use su at all.\n"
           "# auth       required   pam_wheel.so deny group=nosu\n"
           "\n"
           "# Uncomment and edit /etc/security/time.conf if you need to set\n"
           "# time restrainst on su usage.\n"
           "# (Replaces the `PORTTIME_CHECKS_ENAB' option from login.defs\n"
           "# as well as /etc/porttime)\n"
           "# account    requisite  pam_time.so\n"
           "\n"
           "# This module parses environment configuration file(s)\n"
           "# and also allows you to use an extended config\n"
           "# file /etc/security/pam_env.conf.\n"
           "# \n"
           "# parsing /etc/environment needs \"readenv=1\"\n"
           "session       required   pam_env.so readenv=1\n"
           "# locale variables are also kept into /etc/default/locale in etch\n"
           "# reading this file *in addition to /etc/environment* does not hurt\n"
           "session       required   pam_env.so readenv=1 envfile=/etc/default/locale\n"
           "\n"
           "# Defines the MAIL environment variable\n"
           "# However, userdel also needs MAIL_DIR and MAIL_FILE variables\n"
           "# in /etc/login.defs to make sure that removing a user \n"
           "# also removes the user's mail spool file.\n"
           "# See comments in /etc/login.defs\n"
           "#\n"
           "# \"nopen\" stands to avoid reporting new mail when su'ing to another user\n"
           "session    optional   pam_mail.so nopen\n"
           "\n"
           "# Sets up user limits according to /etc/security/limits.conf\n"
           "# (Replaces the use of /etc/limits in old login)\n"
           "session    required   pam_limits.so\n"
           "\n"
           "# The standard Unix authentication modules, used with\n"
           "# NIS (man nsswitch) as well as normal /etc/passwd and\n"
           "# /etc/shadow entries.\n"
           "@include common-auth\n"
           "@include common-account\n"
           "@include common-session\n"
           "\n"
           "\n")

_PAM_OTHER = """\
#
# /etc/pam.d/other - specify the PAM fallback behaviour
#
# Note that this file is used for any unspecified service; for example
#if /etc/pam.d/cron  specifies no session modules but cron calls
#pam_open_session, the session module out of /etc/pam.d/other is
#used.  If you really want nothing to happen then use pam_permit.so or
#pam_deny.so as appropriate.

# We fall back to the system default in /etc/pam.d/common-*
# \n
@include common-auth
@include common-account
@include common-password
@include common-session
"""

_COMMON_AUTH = """\
#
# /etc/pam.d/common-auth - authentication settings common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of the authentication modules that define
# the central authentication scheme for use on the system
# (e.g., /etc/shadow, LDAP, Kerberos, etc.).  The default is to use the
# traditional Unix authentication mechanisms.
#
""" + _PAM_AUTO + "\n" + _pam_block("auth", "auth\t[success=1 default=ignore]\tpam_unix.so nullok")

_COMMON_ACCOUNT = """\
#
# /etc/pam.d/common-account - authorization settings common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of the authorization modules that define
# the central access policy for use on the system.  The default is to
# only deny service to users whose accounts are expired in /etc/shadow.
#
""" + _PAM_AUTO + "#\n\n" + _pam_block(
    "account", "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so ")

_COMMON_PASSWORD = """\
#
# /etc/pam.d/common-password - password-related modules common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of modules that define the services to be
# used to change user passwords.  The default is pam_unix.

# Explanation of pam_unix options:
# The "yescrypt" option enables
#hashed passwords using the yescrypt algorithm, introduced in Debian
#11.  Without this option, the default is Unix crypt.  Prior releases
#used the option "sha512"; if a shadow password hash will be shared
#between Debian 11 and older releases replace "yescrypt" with "sha512"
#for compatibility .  The "obscure" option replaces the old
#`OBSCURE_CHECKS_ENAB' option in login.defs.  See the pam_unix manpage
#for other options.

""" + _PAM_AUTO + "\n" + _pam_block("password", "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt")

_COMMON_SESSION = (_SESSION_HEAD.format(suffix="", common="", which="interactive ") + _PAM_AUTO + "\n"
                   + _pam_block("session", "session\t[default=1]\t\t\tpam_permit.so",
                                "session\trequired\tpam_unix.so \nsession\toptional\tpam_systemd.so \n"))
_COMMON_SESSION_NONINTERACTIVE = (
    _SESSION_HEAD.format(suffix="-noninteractive", common="\n# common to all non-interactive services",
                         which="all non-interactive ")
    + _PAM_AUTO + "\n" + _pam_block("session", "session\t[default=1]\t\t\tpam_permit.so",
                                    "session\trequired\tpam_unix.so \n"))

_DEFAULT_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""

# If your computer has multiple operating systems installed, then you
# probably want to run os-prober. However, if your computer is a host
# for guest OSes installed via LVM or raw disk devices, running
# os-prober can cause damage to those guest OSes as it mounts
# filesystems to look for things.
#GRUB_DISABLE_OS_PROBER=false

# Uncomment to enable BadRAM filtering, modify to suit your needs
# This works with Linux (no patch required) and with any kernel that obtains
# the memory map information from GRUB (GNU Mach, kernel of FreeBSD ...)
#GRUB_BADRAM="0x01234567,0xfefefefe,0x89abcdef,0xefefefef"

# Uncomment to disable graphical terminal
#GRUB_TERMINAL=console

# The resolution used on graphical terminal
# note that you can use only modes which your graphic card supports via VBE
# you can see them in real GRUB with the command `vbeinfo'
#GRUB_GFXMODE=640x480

# Uncomment if you don't want GRUB to pass "root=UUID=xxx" parameter to Linux
#GRUB_DISABLE_LINUX_UUID=true

# Uncomment to disable generation of recovery mode menu entries
#GRUB_DISABLE_RECOVERY="true"

# Uncomment to get a beep at grub start
#GRUB_INIT_TUNE="480 440 1"
"""

_LOGROTATE = """\
# see "man logrotate" for details

# global options do not affect preceding include directives

# rotate log files weekly
weekly

# keep 4 weeks worth of backlogs
rotate 4

# create new (empty) log files after rotating old ones
create

# use date as a suffix of the rotated file
#dateext

# uncomment this if you want your log files compressed
#compress

# packages drop log rotation information into this directory
include /etc/logrotate.d

# system-specific logs may also be configured here.
"""

_CRONTAB = ("# /etc/crontab: system-wide crontab\n"
            "# Unlike any other crontab you don't have to run the `crontab'\n"
            "# command to install the new version when you edit this file\n"
            "# and files in /etc/cron.d. These files also have username fields,\n"
            "# that none of the other crontabs do.\n"
            "\n"
            "SHELL=/bin/sh\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
            "\n"
            "# Example of job definition:\n"
            "# .---------------- minute (0 - 59)\n"
            "# |  .------------- hour (0 - 23)\n"
            "# |  |  .---------- day of month (1 - 31)\n"
            "# |  |  |  .------- month (1 - 12) OR jan,feb,mar,apr ...\n"
            "# |  |  |  |  .---- day of week (0 - 6) (Sunday=0 or 7) OR sun,mon,tue,wed,thu,fri,sat\n"
            "# |  |  |  |  |\n"
            "# *  *  *  *  * user-name command to be executed\n"
            "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
            "25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }\n"
            "47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }\n"
            "52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }\n"
            "#\n")

_ADDUSER = ("# /etc/adduser.conf: `adduser' configuration.\n"
            "# See adduser(8) and adduser.conf(5) for full documentation.\n"
            "\n"
            "# A commented out setting indicates that this is the default in the\n"
            "# code. If you need to change those settings, remove the comment and\n"
            "# make your intended change.\n"
            "\n"
            "# The login shell to be used for all new users.\n"
            "# Default: DSHELL=/bin/bash\n"
            "#DSHELL=/bin/bash\n"
            "\n"
            "# The directory in which new home directories should  be  created.\n"
            "# Default: DHOME=/home\n"
            "# DHOME=/home\n"
            "\n"
            "# The directory from which skeletal user configuration files\n"
            "# will be copied.\n"
            "# Default: SKEL=/etc/skel\n"
            "#SKEL=/etc/skel\n"
            "\n"
            "# Specify inclusive ranges of UIDs and GIDs from which UIDs and GIDs\n"
            "# for system users, system groups, non-system users and non-system groups\n"
            "# can be dynamically allocated.\n"
            "# Default: FIRST_SYSTEM_UID=100, LAST_SYSTEM_UID=999\n"
            "#FIRST_SYSTEM_UID=100\n"
            "#LAST_SYSTEM_UID=999\n"
            "\n"
            "# Default: FIRST_SYSTEM_GID=100, LAST_SYSTEM_GID=999\n"
            "#FIRST_SYSTEM_GID=100\n"
            "#LAST_SYSTEM_GID=999\n"
            "\n"
            "# Default: FIRST_UID=1000, LAST_UID=59999\n"
            "#FIRST_UID=1000\n"
            "#LAST_UID=59999\n"
            "\n"
            "# Default: FIRST_GID=1000, LAST_GID=59999\n"
            "#FIRST_GID=1000\n"
            "#LAST_GID=59999\n"
            "\n"
            "# Specify a file or a directory containing UID and GID pool.\n"
            "#UID_POOL=/etc/adduser-pool.conf\n"
            "#UID_POOL=/etc/adduser-pool.d/\n"
            "#GID_POOL=/etc/adduser-pool.conf\n"
            "#GID_POOL=/etc/adduser-pool.d/\n"
            "\n"
            "# Specify whether each created non-system user will be\n"
            "# given their own group to use.\n"
            "# Default: USERGROUPS=yes\n"
            "#USERGROUPS=yes\n"
            "\n"
            "# Defines the groupname or GID of the group all newly-created\n"
            "# non-system users are placed into.\n"
            "# It is a configuration error to define both variables\n"
            "# even if the values are consistent.\n"
            "# Default: USERS_GID=undefined, USERS_GROUP=users\n"
            "#USERS_GID=100\n"
            "#USERS_GROUP=users\n"
            "\n"
            "# The permissions mode for home directories of non-system users.\n"
            "# Default: DIR_MODE=0700\n"
            "#DIR_MODE=0700\n"
            "\n"
            "# The permissions mode for home directories of system users.\n"
            "# Default: SYS_DIR_MODE=0755\n"
            "#SYS_DIR_MODE=0755\n"
            "\n"
            "# If set to a nonempty value, new users will have quotas copied\n"
            "# from that user with `edquota -p QUOTAUSER newuser'\n"
            "# Default: QUOTAUSER=\"\"\n"
            "#QUOTAUSER=\"\"\n"
            "\n"
            "# Non-system user- and groupnames are checked against this regular\n"
            "# expression.\n"
            "# Default: NAME_REGEX=\"^[a-z][-a-z0-9_]*\\$?$\"\n"
            "#NAME_REGEX=\"^[a-z][-a-z0-9_]*\\$?$\"\n"
            "\n"
            "# System user- and groupnames are checked against this regular\n"
            "# expression.\n"
            "# Default: SYS_NAME_REGEX=\"^[a-z_][-a-z0-9_]*\\$?$\"\n"
            "#SYS_NAME_REGEX=\"^[a-z_][-a-z0-9_]*\\$?$\"\n"
            "\n"
            "# When populating the newly created home directory of a non-system user,\n"
            "# files in SKEL matching this regex are not copied.\n"
            "# Default: SKEL_IGNORE_REGEX=\"\\.(dpkg|ucf)-(old|new|dist|save)$\"\n"
            "#SKEL_IGNORE_REGEX=\"\\.(dpkg|ucf)-(old|new|dist|save)$\"\n"
            "\n"
            "# list of groups that new non-system users will be added to\n"
            "# if ADD_EXTRA_GROUPS is non-zero or set on the command line.\n"
            "# Default: EXTRA_GROUPS=\"users\"\n"
            "#EXTRA_GROUPS=\"users\"\n"
            "\n"
            "# Setting this to something other than 0 will cause adduser to add\n"
            "# newly created non-system users to the list of groups defined by\n"
            "# EXTRA_GROUPS.\n"
            "# Default: ADD_EXTRA_GROUPS=0\n"
            "#ADD_EXTRA_GROUPS=0\n"
            "\n")

_DELUSER = ("# /etc/deluser.conf: `deluser' configuration.\n"
            "# See deluser(8) and deluser.conf(5) for full documentation.\n"
            "\n"
            "# A commented out setting indicates that this is the default in the\n"
            "# code. If you need to change those settings, remove the comment and\n"
            "# make your intended change.\n"
            "\n"
            "# Remove home directory and mail spool when user is removed\n"
            "# Default: REMOVE_HOME = 0\n"
            "#REMOVE_HOME = 0\n"
            "\n"
            "# Remove all files on the system owned by the user to be removed\n"
            "# Default: REMOVE_ALL_FILES = 0\n"
            "#REMOVE_ALL_FILES = 0\n"
            "\n"
            "# Backup files before removing them. This options has only an effect if\n"
            "# REMOVE_HOME or REMOVE_ALL_FILES is set.\n"
            "# Default: BACKUP = 0\n"
            "#BACKUP = 0\n"
            "\n"
            "# Target directory for the backup file\n"
            "# Default: BACKUP_TO = \".\"\n"
            "#BACKUP_TO = \".\"\n"
            "\n"
            "# Select compression (from tar --auto-compress) for backups\n"
            "# Default: BACKUP_SUFFIX = .gz\n"
            "#BACKUP_SUFFIX = .gz\n"
            "\n"
            "# Space-Separated list of regular expressions. Do not delete files\n"
            "# matching any of these.\n"
            "# Default: NO_DEL_PATHS=\"^/bin\\$ ^/boot\\$ ^/dev\\$ ^/etc\\$ ^/initrd ^/lib ^/lost+found\\$ ^/media\\$"
            " ^/mnt\\$ ^/opt\\$ ^/proc\\$ ^/root\\$ ^/run\\$ ^/sbin\\$ ^/srv\\$ ^/sys\\$ ^/tmp\\$ ^/usr\\$ ^/var\\$ ^"
            "/vmlinu\"\n"
            "#NO_DEL_PATHS=\"^/bin\\$ ^/boot\\$ ^/dev\\$ ^/etc\\$ ^/initrd ^/lib ^/lost+found\\$ ^/media\\$ ^/mnt\\$ "
            "^/opt\\$ ^/proc\\$ ^/root\\$ ^/run\\$ ^/sbin\\$ ^/srv\\$ ^/sys\\$ ^/tmp\\$ ^/usr\\$ ^/var\\$ ^/vmlinu\""
            "\n"
            "\n"
            "# Only delete a group if there are no users belonging to this group.\n"
            "# Default: ONLY_IF_EMPTY = 0\n"
            "#ONLY_IF_EMPTY = 0\n"
            "\n"
            "# Single regular expression which describes filesystems types which should\n"
            "# be excluded when looking for files of a user to be deleted.\n"
            "# Default: EXCLUDE_FSTYPES = \"(proc|sysfs|usbfs|devpts|tmpfs|afs)\"\n"
            "#EXCLUDE_FSTYPES = \"(proc|sysfs|usbfs|devpts|tmpfs|afs)\"\n")

_SUDOERS = """\
#
# This file MUST be edited with the 'visudo' command as root.
#
# Please consider adding local content in /etc/sudoers.d/ instead of
# directly modifying this file.
#
# See the man page for details on how to write a sudoers file.
#
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# This fixes CVE-2005-4890 and possibly breaks some versions of kdesu
# (#1011624, https://bugs.kde.org/show_bug.cgi?id=452532)
Defaults\tuse_pty

# This preserves proxy settings from user environments of root
# equivalent users (group sudo)
#Defaults:%sudo env_keep += "http_proxy https_proxy ftp_proxy all_proxy no_proxy"

# This allows running arbitrary commands, but so does ALL, and it means
# different sudoers have their choice of editor respected.
#Defaults:%sudo env_keep += "EDITOR"

# Completely harmless preservation of a user preference.
#Defaults:%sudo env_keep += "GREP_COLOR"

# While you shouldn't normally run git as root, you need to with etckeeper
#Defaults:%sudo env_keep += "GIT_AUTHOR_* GIT_COMMITTER_*"

# Per-user preferences; root won't have sensible values for them.
#Defaults:%sudo env_keep += "EMAIL DEBEMAIL DEBFULLNAME"

# "sudo scp" or "sudo rsync" should be able to use your SSH agent.
#Defaults:%sudo env_keep += "SSH_AGENT_PID SSH_AUTH_SOCK"

# Ditto for GPG agent
#Defaults:%sudo env_keep += "GPG_AGENT_INFO"

# Host alias specification

# User alias specification

# Cmnd alias specification

# User privilege specification
root\tALL=(ALL:ALL) ALL

# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL

# See sudoers(5) for more information on "@include" directives:

@includedir /etc/sudoers.d
"""

_SUDOERS_README = """\
#
# The default /etc/sudoers file created on installation of the
# sudo  package now includes the directive:
# \n# \t@includedir /etc/sudoers.d
# \n# This will cause sudo to read and parse any files in the /etc/sudoers.d \n\
# directory that do not end in '~' or contain a '.' character.
# \n# Note that there must be at least one file in the sudoers.d directory (this
# one will do).
# \n# Note also, that because sudoers contents can vary widely, no attempt is \n\
# made to add this directive to existing sudoers files on upgrade.  Feel free
# to add the above directive to the end of your /etc/sudoers file to enable \n\
# this functionality for existing installations if you wish! Sudo
# versions older than the one in Debian 11 (bullseye) require the
# directive will only support the old syntax #includedir, and the current
# sudo will happily accept both @includedir and #includedir
#
# Finally, please note that using the visudo command is the recommended way
# to update sudoers content, since it protects against many failure modes.
# See the man page for visudo and sudoers for more information.
#
"""

_SSH_CONFIG = """\

# This is the ssh client system-wide configuration file.  See
# ssh_config(5) for more information.  This file provides defaults for
# users, and the values can be changed in per-user configuration files
# or on the command line.

# Configuration data is parsed as follows:
#  1. command line options
#  2. user-specific file
#  3. system-wide file
# Any configuration value is only changed the first time it is set.
# Thus, host-specific definitions should be at the beginning of the
# configuration file, and defaults at the end.

# Site-wide defaults for some commonly used options.  For a comprehensive
# list of available options, their meanings and defaults, please see the
# ssh_config(5) man page.

Include /etc/ssh/ssh_config.d/*.conf

Host *
#   ForwardAgent no
#   ForwardX11 no
#   ForwardX11Trusted yes
#   PasswordAuthentication yes
#   HostbasedAuthentication no
#   GSSAPIAuthentication no
#   GSSAPIDelegateCredentials no
#   GSSAPIKeyExchange no
#   GSSAPITrustDNS no
#   BatchMode no
#   CheckHostIP yes
#   AddressFamily any
#   ConnectTimeout 0
#   StrictHostKeyChecking ask
#   IdentityFile ~/.ssh/id_rsa
#   IdentityFile ~/.ssh/id_dsa
#   IdentityFile ~/.ssh/id_ecdsa
#   IdentityFile ~/.ssh/id_ed25519
#   Port 22
#   Ciphers aes128-ctr,aes192-ctr,aes256-ctr,aes128-cbc,3des-cbc
#   MACs hmac-md5,hmac-sha1,umac-64@openssh.com
#   EscapeChar ~
#   Tunnel no
#   TunnelDevice any:any
#   PermitLocalCommand no
#   VisualHostKey no
#   ProxyCommand ssh -q -W %h:%p gateway.example.com
#   RekeyLimit 1G 1h
#   UserKnownHostsFile ~/.ssh/known_hosts.d/%k
    SendEnv LANG LC_*
    HashKnownHosts yes
    GSSAPIAuthentication yes
"""

_GDM3 = ("# GDM configuration storage\n"
         "#\n"
         "# See /usr/share/gdm/gdm.schemas for a list of available options.\n"
         "\n"
         "[daemon]\n"
         "# Uncomment the line below to force the login screen to use Xorg\n"
         "#WaylandEnable=false\n"
         "\n"
         "# Enabling automatic login\n"
         "#  AutomaticLoginEnable = true\n"
         "#  AutomaticLogin = user1\n"
         "\n"
         "# Enabling timed login\n"
         "#  TimedLoginEnable = true\n"
         "#  TimedLogin = user1\n"
         "#  TimedLoginDelay = 10\n"
         "\n"
         "[security]\n"
         "\n"
         "[xdmcp]\n"
         "\n"
         "[chooser]\n"
         "\n"
         "[debug]\n"
         "# Uncomment the line below to turn on debugging\n"
         "# More verbose logs\n"
         "# Additionally lets the X server dump core if it crashes\n"
         "#Enable=true\n"
         "\n")

_LIMITS = ("# /etc/security/limits.conf\n"
           "#\n"
           "#This file sets the resource limits for the users logged in via PAM.\n"
           "#It does not affect resource limits of the system services.\n"
           "#\n"
           "#Also note that configuration files in /etc/security/limits.d directory,\n"
           "#which are read in alphabetical order, override the settings in this\n"
           "#file in case the domain is the same or more specific.\n"
           "#That means, for example, that setting a limit for wildcard domain here\n"
           "#can be overridden with a wildcard setting in a config file in the\n"
           "#subdirectory, but a user specific setting here can be overridden only\n"
           "#with a user specific setting in the subdirectory.\n"
           "#\n"
           "#Each line describes a limit for a user in the form:\n"
           "#\n"
           "#<domain>        <type>  <item>  <value>\n"
           "#\n"
           "#Where:\n"
           "#<domain> can be:\n"
           "#        - a user name\n"
           "#        - a group name, with @group syntax\n"
           "#        - the wildcard *, for default entry\n"
           "#        - the wildcard %, can be also used with %group syntax,\n"
           "#                 for maxlogin limit\n"
           "#        - NOTE: group and wildcard limits are not applied to root.\n"
           "#          To apply a limit to the root user, <domain> must be\n"
           "#          the literal username root.\n"
           "#\n"
           "#<type> can have the two values:\n"
           "#        - \"soft\" for enforcing the soft limits\n"
           "#        - \"hard\" for enforcing hard limits\n"
           "#\n"
           "#<item> can be one of the following:\n"
           "#        - core - limits the core file size (KB)\n"
           "#        - data - max data size (KB)\n"
           "#        - fsize - maximum filesize (KB)\n"
           "#        - memlock - max locked-in-memory address space (KB)\n"
           "#        - nofile - max number of open file descriptors\n"
           "#        - rss - max resident set size (KB)\n"
           "#        - stack - max stack size (KB)\n"
           "#        - cpu - max CPU time (MIN)\n"
           "#        - nproc - max number of processes\n"
           "#        - as - address space limit (KB)\n"
           "#        - maxlogins - max number of logins for this user\n"
           "#        - maxsyslogins - max number of logins on the system\n"
           "#        - priority - the priority to run user process with\n"
           "#        - locks - max number of file locks the user can hold\n"
           "#        - sigpending - max number of pending signals\n"
           "#        - msgqueue - max memory used by POSIX message queues (bytes)\n"
           "#        - nice - max nice priority allowed to raise to values: [-20, 19]\n"
           "#        - rtprio - max realtime priority\n"
           "#        - chroot - change root to directory (Debian-specific)\n"
           "#\n"
           "#<domain>      <type>  <item>         <value>\n"
           "#\n"
           "\n"
           "#*               soft    core            0\n"
           "#root            hard    core            100000\n"
           "#*               hard    rss             10000\n"
           "#@student        hard    nproc           20\n"
           "#@faculty        soft    nproc           20\n"
           "#@faculty        hard    nproc           50\n"
           "#ftp             hard    nproc           0\n"
           "#ftp             -       chroot          /ftp\n"
           "#@student        -       maxlogins       4\n"
           "\n"
           "# End of file\n")

_SYSCTL = """\
#
# /etc/sysctl.conf - Configuration file for setting system variables
# See /etc/sysctl.d/ for additional system variables.
# See sysctl.conf (5) for information.
#

#kernel.domainname = example.com

# Uncomment the following to stop low-level messages on console
#kernel.printk = 3 4 1 3

###################################################################
# Functions previously found in netbase
#

# Uncomment the next two lines to enable Spoof protection (reverse-path filter)
# Turn on Source Address Verification in all interfaces to
# prevent some spoofing attacks
#net.ipv4.conf.default.rp_filter=1
#net.ipv4.conf.all.rp_filter=1

# Uncomment the next line to enable TCP/IP SYN cookies
# See http://lwn.net/Articles/277146/
# Note: This may impact IPv6 TCP sessions too
#net.ipv4.tcp_syncookies=1

# Uncomment the next line to enable packet forwarding for IPv4
#net.ipv4.ip_forward=1

# Uncomment the next line to enable packet forwarding for IPv6
#  Enabling this option disables Stateless Address Autoconfiguration
#  based on Router Advertisements for this host
#net.ipv6.conf.all.forwarding=1


###################################################################
# Additional settings - these settings can improve the network
# security of the host and prevent against some network attacks
# including spoofing attacks and man in the middle attacks through
# redirection. Some network environments, however, require that these
# settings are disabled so review and enable them as needed.
#
# Do not accept ICMP redirects (prevent MITM attacks)
#net.ipv4.conf.all.accept_redirects = 0
#net.ipv6.conf.all.accept_redirects = 0
# _or_
# Accept ICMP redirects only for gateways listed in our default
# gateway list (enabled by default)
# net.ipv4.conf.all.secure_redirects = 1
#
# Do not send ICMP redirects (we are not a router)
#net.ipv4.conf.all.send_redirects = 0
#
# Do not accept IP source route packets (we are not a router)
#net.ipv4.conf.all.accept_source_route = 0
#net.ipv6.conf.all.accept_source_route = 0
#
# Log Martian Packets
#net.ipv4.conf.all.log_martians = 1
#

###################################################################
# Magic system request Key
# 0=disable, 1=enable all, >1 bitmask of sysrq functions
# See https://www.kernel.org/doc/html/latest/admin-guide/sysrq.html
# for what other values do
#kernel.sysrq=438

"""

_JOURNALD = """\
[Journal]
#Storage=auto
#Compress=yes
#Seal=yes
#SplitMode=uid
#SyncIntervalSec=5m
#RateLimitIntervalSec=30s
#RateLimitBurst=10000
#SystemMaxUse=
#SystemKeepFree=
#SystemMaxFileSize=
#SystemMaxFiles=100
#RuntimeMaxUse=
#RuntimeKeepFree=
#RuntimeMaxFileSize=
#RuntimeMaxFiles=100
#MaxRetentionSec=
#MaxFileSec=1month
#ForwardToSyslog=yes
#ForwardToKMsg=no
#ForwardToConsole=no
#ForwardToWall=yes
#TTYPath=/dev/console
#MaxLevelStore=debug
#MaxLevelSyslog=debug
#MaxLevelKMsg=notice
#MaxLevelConsole=info
#MaxLevelWall=emerg
#LineMax=48K
#ReadKMsg=yes
#Audit=no
"""

_LOGIND = """\
[Login]
#NAutoVTs=6
#ReserveVT=6
#KillUserProcesses=no
#KillOnlyUsers=
#KillExcludeUsers=root
#InhibitDelayMaxSec=5
#UserStopDelaySec=10
#HandlePowerKey=poweroff
#HandlePowerKeyLongPress=ignore
#HandleRebootKey=reboot
#HandleRebootKeyLongPress=poweroff
#HandleSuspendKey=suspend
#HandleSuspendKeyLongPress=hibernate
#HandleHibernateKey=hibernate
#HandleHibernateKeyLongPress=ignore
#HandleLidSwitch=suspend
#HandleLidSwitchExternalPower=suspend
#HandleLidSwitchDocked=ignore
#PowerKeyIgnoreInhibited=no
#SuspendKeyIgnoreInhibited=no
#HibernateKeyIgnoreInhibited=no
#LidSwitchIgnoreInhibited=yes
#RebootKeyIgnoreInhibited=no
#HoldoffTimeoutSec=30s
#IdleAction=ignore
#IdleActionSec=30min
#RuntimeDirectorySize=10%
#RuntimeDirectoryInodesMax=
#RemoveIPC=yes
#InhibitorsMax=8192
#SessionsMax=8192
#StopIdleSessionSec=infinity
"""

_RESOLVED = """\
[Resolve]
# Some examples of DNS servers which may be used for DNS= and FallbackDNS=:
# Cloudflare: 1.1.1.1#cloudflare-dns.com 1.0.0.1#cloudflare-dns.com 2606:4700:4700::1111#cloudflare-dns.com\
 2606:4700:4700::1001#cloudflare-dns.com
# Google:     8.8.8.8#dns.google 8.8.4.4#dns.google 2001:4860:4860::8888#dns.google 2001:4860:4860::8844#dns.google
# Quad9:      9.9.9.9#dns.quad9.net 149.112.112.112#dns.quad9.net 2620:fe::fe#dns.quad9.net 2620:fe::9#dns.quad9.net
#DNS=
#FallbackDNS=
#Domains=
#DNSSEC=no
#DNSOverTLS=no
#MulticastDNS=yes
#LLMNR=yes
#Cache=yes
#CacheFromLocalhost=no
#DNSStubListener=yes
#DNSStubListenerExtra=
#ReadEtcHosts=yes
#ResolveUnicastSingleLabel=no
"""

_APT_AUTOREMOVE = """\
APT
{
  NeverAutoRemove
  {
\t"^firmware-linux.*";
\t"^linux-firmware$";
\t"^linux-image-[a-z0-9]*$";
\t"^linux-image-[a-z0-9]*-[a-z0-9]*$";
  };

  VersionedKernelPackages
  {
\t# kernels
\t"linux-.*";
\t"kfreebsd-.*";
\t"gnumach-.*";
\t# (out-of-tree) modules
\t".*-modules";
\t".*-kernel";
  };

  Never-MarkAuto-Sections
  {
\t"metapackages";
\t"tasks";
  };

  Move-Autobit-Sections
  {
\t"oldlibs";
  };
};
"""

_APT_DEBCONF = """\
// Pre-configure all packages with debconf before they are installed.
// If you don't like it, comment it out.
DPkg::Pre-Install-Pkgs {"/usr/sbin/dpkg-preconfigure --apt || true";};
"""

_APT_CNF = ("## This file is provided by command-not-found(1) to download\n"
            "## Commands metadata files.\n"
            "\n"
            "Acquire::IndexTargets {\n"
            "    # The deb822 metadata files\n"
            "    deb::CNF  {\n"
            "        MetaKey \"$(COMPONENT)/cnf/Commands-$(NATIVE_ARCHITECTURE)\";\n"
            "        ShortDescription \"Commands-$(NATIVE_ARCHITECTURE)\";\n"
            "        Description \"$(RELEASE)/$(COMPONENT) $(NATIVE_ARCHITECTURE) c-n-f Metadata\";\n"
            "        DefaultEnabled \"no\";\n"
            "    };\n"
            "};\n"
            "\n"
            "# Refresh AppStream cache when APT's cache is updated (i.e. apt update)\n"
            "APT::Update::Post-Invoke-Success {\n"
            "    \"if /usr/bin/test -w /var/lib/command-not-found/ -a -e /usr/lib/cnf-update-db; then /usr/lib/cnf-up"
            "date-db > /dev/null; fi\";\n"
            "};\n")

_MKE2FS = ("[defaults]\n"
           "\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr\n"
           "\tdefault_mntopts = acl,user_xattr\n"
           "\tenable_periodic_fsck = 0\n"
           "\tblocksize = 4096\n"
           "\tinode_size = 256\n"
           "\tinode_ratio = 16384\n"
           "\n"
           "[fs_types]\n"
           "\text3 = {\n"
           "\t\tfeatures = has_journal\n"
           "\t}\n"
           "\text4 = {\n"
           "\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize\n"
           "\t}\n"
           "\tsmall = {\n"
           "\t\tblocksize = 1024\n"
           "\t\tinode_ratio = 4096\n"
           "\t}\n"
           "\tfloppy = {\n"
           "\t\tblocksize = 1024\n"
           "\t\tinode_ratio = 8192\n"
           "\t}\n"
           "\tbig = {\n"
           "\t\tinode_ratio = 32768\n"
           "\t}\n"
           "\thuge = {\n"
           "\t\tinode_ratio = 65536\n"
           "\t}\n"
           "\tnews = {\n"
           "\t\tinode_ratio = 4096\n"
           "\t}\n"
           "\tlargefile = {\n"
           "\t\tinode_ratio = 1048576\n"
           "\t\tblocksize = -1\n"
           "\t}\n"
           "\tlargefile4 = {\n"
           "\t\tinode_ratio = 4194304\n"
           "\t\tblocksize = -1\n"
           "\t}\n"
           "\thurd = {\n"
           "\t     blocksize = 4096\n"
           "\t     inode_size = 128\n"
           "\t     warn_y2038_dates = 0\n"
           "\t}\n")

_LOGROTATE_D = {
    "apt": "".join(f"/var/log/apt/{name}.log {{\n  rotate 12\n  monthly\n  compress\n  missingok\n  notifempty\n}}\n\n"
                   for name in ("term", "history")),
    "dpkg": ("/var/log/dpkg.log {\n\tmonthly\n\trotate 12\n\tcompress\n\tdelaycompress\n\tmissingok\n\tnotifempty\n"
             "\tcreate 644 root root\n}\n"),
    "rsyslog": ("/var/log/syslog\n/var/log/mail.log\n/var/log/kern.log\n/var/log/auth.log\n/var/log/user.log\n"
                "/var/log/cron.log\n{\n\trotate 4\n\tweekly\n\tmissingok\n\tnotifempty\n\tcompress\n"
                "\tdelaycompress\n\tsharedscripts\n\tpostrotate\n\t\t/usr/lib/rsyslog/rsyslog-rotate\n"
                "\tendscript\n}\n"),
    "btmp": ("# no packages own btmp -- we'll rotate it here\n/var/log/btmp {\n    missingok\n    monthly\n"
             "    create 0660 root utmp\n    rotate 1\n}\n"),
    "wtmp": ("# no packages own wtmp -- we'll rotate it here\n/var/log/wtmp {\n    missingok\n    monthly\n"
             "    create 0664 root utmp\n    minsize 1M\n    rotate 1\n}\n"),
    "unattended-upgrades": ("/var/log/unattended-upgrades/unattended-upgrades.log \n"
                            "/var/log/unattended-upgrades/unattended-upgrades-dpkg.log\n"
                            "/var/log/unattended-upgrades/unattended-upgrades-shutdown.log\n"
                            "{\n  rotate 6\n  monthly\n  compress\n  missingok\n  notifempty\n}\n"),
}

_LOGIN_DEFS = ("#\n"
               "# /etc/login.defs - Configuration control definitions for the login package.\n"
               "#\n"
               "# Three items must be defined:  MAIL_DIR, ENV_SUPATH, and ENV_PATH.\n"
               "# If unspecified, some arbitrary (and possibly incorrect) value will\n"
               "# be assumed.  All other items are optional - if not specified then\n"
               "# the described action or option will be inhibited.\n"
               "#\n"
               "# Comment lines (lines beginning with \"#\") and blank lines are ignored.\n"
               "#\n"
               "# Modified for Linux.  --marekm\n"
               "\n"
               "# REQUIRED for useradd/userdel/usermod\n"
               "#   Directory where mailboxes reside, _or_ name of file, relative to the\n"
               "#   home directory.  If you _do_ define MAIL_DIR and MAIL_FILE,\n"
               "#   MAIL_DIR takes precedence.\n"
               "#\n"
               "#   Essentially:\n"
               "#      - MAIL_DIR defines the location of users mail spool files\n"
               "#        (for mbox use) by appending the username to MAIL_DIR as defined\n"
               "#        below.\n"
               "#      - MAIL_FILE defines the location of the users mail spool files as the\n"
               "#        fully-qualified filename obtained by prepending the user home\n"
               "#        directory before $MAIL_FILE\n"
               "#\n"
               "# NOTE: This is no more used for setting up users MAIL environment variable\n"
               "#       which is, starting from shadow 4.0.12-1 in Debian, entirely the\n"
               "#       job of the pam_mail PAM modules\n"
               "#       See default PAM configuration files provided for\n"
               "#       login, su, etc.\n"
               "#\n"
               "# This is a temporary situation: setting these variables will soon\n"
               "# move to /etc/default/useradd and the variables will then be\n"
               "# no more supported\n"
               "MAIL_DIR        /var/mail\n"
               "#MAIL_FILE      .mail\n"
               "\n"
               "#\n"
               "# Enable logging and display of /var/log/faillog login failure info.\n"
               "# This option conflicts with the pam_tally PAM module.\n"
               "#\n"
               "FAILLOG_ENAB\t\tyes\n"
               "\n"
               "#\n"
               "# Enable display of unknown usernames when login failures are recorded.\n"
               "#\n"
               "# WARNING: Unknown usernames may become world readable. \n"
               "# See #290803 and #298773 for details about how this could become a security\n"
               "# concern\n"
               "LOG_UNKFAIL_ENAB\tno\n"
               "\n"
               "#\n"
               "# Enable logging of successful logins\n"
               "#\n"
               "LOG_OK_LOGINS\t\tno\n"
               "\n"
               "#\n"
               "# Enable \"syslog\" logging of su activity - in addition to sulog file logging.\n"
               "# SYSLOG_SG_ENAB does the same for newgrp and sg.\n"
               "#\n"
               "SYSLOG_SU_ENAB\t\tyes\n"
               "SYSLOG_SG_ENAB\t\tyes\n"
               "\n"
               "#\n"
               "# If defined, all su activity is logged to this file.\n"
               "#\n"
               "#SULOG_FILE\t/var/log/sulog\n"
               "\n"
               "#\n"
               "# If defined, file which maps tty line to TERM environment parameter.\n"
               "# Each line of the file is in a format something like \"vt100  tty01\".\n"
               "#\n"
               "#TTYTYPE_FILE\t/etc/ttytype\n"
               "\n"
               "#\n"
               "# If defined, login failures will be logged here in a utmp format\n"
               "# last, when invoked as lastb, will read /var/log/btmp, so...\n"
               "#\n"
               "FTMP_FILE\t/var/log/btmp\n"
               "\n"
               "#\n"
               "# If defined, the command name to display when running \"su -\".  For\n"
               "# example, if this is defined as \"su\" then a \"ps\" will display the\n"
               "# command is \"-su\".  If not defined, then \"ps\" would display the\n"
               "# name of the shell actually being run, e.g. something like \"-sh\".\n"
               "#\n"
               "SU_NAME\t\tsu\n"
               "\n"
               "#\n"
               "# If defined, file which inhibits all the usual chatter during the login\n"
               "# sequence.  If a full pathname, then hushed mode will be enabled if the\n"
               "# user's name or shell are found in the file.  If not a full pathname, then\n"
               "# hushed mode will be enabled if the file exists in the user's home directory.\n"
               "#\n"
               "HUSHLOGIN_FILE\t.hushlogin\n"
               "#HUSHLOGIN_FILE\t/etc/hushlogins\n"
               "\n"
               "#\n"
               "# *REQUIRED*  The default PATH settings, for superuser and normal users.\n"
               "#\n"
               "# (they are minimal, add the rest in the shell startup files)\n"
               "ENV_SUPATH\tPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
               "ENV_PATH\tPATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\n"
               "\n"
               "#\n"
               "# Terminal permissions\n"
               "#\n"
               "#\tTTYGROUP\tLogin tty will be assigned this group ownership.\n"
               "#\tTTYPERM\t\tLogin tty will be set to this permission.\n"
               "#\n"
               "# If you have a \"write\" program which is \"setgid\" to a special group\n"
               "# which owns the terminals, define TTYGROUP to the group number and\n"
               "# TTYPERM to 0620.  Otherwise leave TTYGROUP commented out and assign\n"
               "# TTYPERM to either 622 or 600.\n"
               "#\n"
               "# In Debian /usr/bin/bsd-write or similar programs are setgid tty\n"
               "# However, the default and recommended value for TTYPERM is still 0600\n"
               "# to not allow anyone to write to anyone else console or terminal\n"
               "\n"
               "# Users can still allow other people to write them by issuing \n"
               "# the \"mesg y\" command.\n"
               "\n"
               "TTYGROUP\ttty\n"
               "TTYPERM\t\t0600\n"
               "\n"
               "#\n"
               "# Login configuration initializations:\n"
               "#\n"
               "#\tERASECHAR\tTerminal ERASE character ('\\010' = backspace).\n"
               "#\tKILLCHAR\tTerminal KILL character ('\\025' = CTRL/U).\n"
               "#\tUMASK\t\tDefault \"umask\" value.\n"
               "#\n"
               "# The ERASECHAR and KILLCHAR are used only on System V machines.\n"
               "# \n"
               "# UMASK is the default umask value for pam_umask and is used by\n"
               "# useradd and newusers to set the mode of the new home directories.\n"
               "# 022 is the \"historical\" value in Debian for UMASK\n"
               "# 027, or even 077, could be considered better for privacy\n"
               "# There is no One True Answer here : each sysadmin must make up his/her\n"
               "# mind.\n"
               "#\n"
               "# If USERGROUPS_ENAB is set to \"yes\", that will modify this UMASK default value\n"
               "# for private user groups, i. e. the uid is the same as gid, and username is\n"
               "# the same as the primary group name: for these, the user permissions will be\n"
               "# used as group permissions, e. g. 022 will become 002.\n"
               "#\n"
               "# Prefix these values with \"0\" to get octal, \"0x\" to get hexadecimal.\n"
               "#\n"
               "ERASECHAR\t0177\n"
               "KILLCHAR\t025\n"
               "UMASK\t\t022\n"
               "\n"
               "# HOME_MODE is used by useradd(8) and newusers(8) to set the mode for new\n"
               "# home directories.\n"
               "# If HOME_MODE is not set, the value of UMASK is used to create the mode.\n"
               "#HOME_MODE\t0700\n"
               "\n"
               "#\n"
               "# Password aging controls:\n"
               "#\n"
               "#\tPASS_MAX_DAYS\tMaximum number of days a password may be used.\n"
               "#\tPASS_MIN_DAYS\tMinimum number of days allowed between password changes.\n"
               "#\tPASS_WARN_AGE\tNumber of days warning given before a password expires.\n"
               "#\n"
               "PASS_MAX_DAYS\t99999\n"
               "PASS_MIN_DAYS\t0\n"
               "PASS_WARN_AGE\t7\n"
               "\n"
               "#\n"
               "# Min/max values for automatic uid selection in useradd\n"
               "#\n"
               "UID_MIN\t\t\t 1000\n"
               "UID_MAX\t\t\t60000\n"
               "# System accounts\n"
               "#SYS_UID_MIN\t\t  100\n"
               "#SYS_UID_MAX\t\t  999\n"
               "# Extra per user uids\n"
               "SUB_UID_MIN\t\t   100000\n"
               "SUB_UID_MAX\t\t600100000\n"
               "SUB_UID_COUNT\t\t    65536\n"
               "\n"
               "#\n"
               "# Min/max values for automatic gid selection in groupadd\n"
               "#\n"
               "GID_MIN\t\t\t 1000\n"
               "GID_MAX\t\t\t60000\n"
               "# System accounts\n"
               "#SYS_GID_MIN\t\t  100\n"
               "#SYS_GID_MAX\t\t  999\n"
               "# Extra per user group ids\n"
               "SUB_GID_MIN\t\t   100000\n"
               "SUB_GID_MAX\t\t600100000\n"
               "SUB_GID_COUNT\t\t    65536\n"
               "\n"
               "#\n"
               "# Max number of login retries if password is bad. This will most likely be\n"
               "# overriden by PAM, since the default pam_unix module has it's own built\n"
               "# in of 3 retries. However, this is a safe fallback in case you are using\n"
               "# an authentication module that does not enforce PAM_MAXTRIES.\n"
               "#\n"
               "LOGIN_RETRIES\t\t5\n"
               "\n"
               "#\n"
               "# Max time in seconds for login\n"
               "#\n"
               "LOGIN_TIMEOUT\t\t60\n"
               "\n"
               "#\n"
               "# Which fields may be changed by regular users using chfn - use\n"
               "# any combination of letters \"frwh\" (full name, room number, work\n"
               "# phone, home phone).  If not defined, no changes are allowed.\n"
               "# For backward compatibility, \"yes\" = \"rwh\" and \"no\" = \"frwh\".\n"
               "# \n"
               "CHFN_RESTRICT\t\trwh\n"
               "\n"
               "#\n"
               "# Should login be allowed if we can't cd to the home directory?\n"
               "# Default is no.\n"
               "#\n"
               "DEFAULT_HOME\tyes\n"
               "\n"
               "#\n"
               "# If defined, this command is run when removing a user.\n"
               "# It should remove any at/cron/print jobs etc. owned by\n"
               "# the user to be removed (passed as the first argument).\n"
               "#\n"
               "#USERDEL_CMD\t/usr/sbin/userdel_local\n"
               "\n"
               "#\n"
               "# If set to yes, userdel will remove the user's group if it contains no\n"
               "# more members, and useradd will create by default a group with the name\n"
               "# of the user.\n"
               "#\n"
               "# Other former uses of this variable such as setting the umask when\n"
               "# user==primary group are not used in PAM environments, such as Debian\n"
               "#\n"
               "USERGROUPS_ENAB yes\n"
               "\n"
               "#\n"
               "# Instead of the real user shell, the program specified by this parameter\n"
               "# will be launched, although its visible name (argv[0]) will be the shell's.\n"
               "# The program may do whatever it wants (logging, additional authentification,\n"
               "# banner, ...) before running the actual shell.\n"
               "#\n"
               "# FAKE_SHELL /bin/fakeshell\n"
               "\n"
               "#\n"
               "# If defined, either full pathname of a file containing device names or\n"
               "# a \":\" delimited list of device names.  Root logins will be allowed only\n"
               "# upon these devices.\n"
               "#\n"
               "# This variable is used by login and su.\n"
               "#\n"
               "#CONSOLE\t/etc/consoles\n"
               "#CONSOLE\tconsole:tty01:tty02:tty03:tty04\n"
               "\n"
               "#\n"
               "# List of groups to add to the user's supplementary group set\n"
               "# when logging in on the console (as determined by the CONSOLE\n"
               "# setting).  Default is none.\n"
               "#\n"
               "# Use with caution - it is possible for users to gain permanent\n"
               "# access to these groups, even when not logged in on the console.\n"
               "# How to do it is left as an exercise for the reader...\n"
               "#\n"
               "# This variable is used by login and su.\n"
               "#\n"
               "#CONSOLE_GROUPS\t\tfloppy:audio:cdrom\n"
               "\n"
               "#\n"
               "# If set to \"yes\", new passwords will be encrypted using the MD5-based\n"
               "# algorithm compatible with the one used by recent releases of FreeBSD.\n"
               "# It supports passwords of unlimited length and longer salt strings.\n"
               "# Set to \"no\" if you need to copy encrypted passwords to other systems\n"
               "# which don't understand the new algorithm.  Default is \"no\".\n"
               "#\n"
               "# This variable is deprecated. You should use ENCRYPT_METHOD.\n"
               "#\n"
               "#MD5_CRYPT_ENAB\tno\n"
               "\n"
               "#\n"
               "# If set to MD5, MD5-based algorithm will be used for encrypting password\n"
               "# If set to SHA256, SHA256-based algorithm will be used for encrypting password\n"
               "# If set to SHA512, SHA512-based algorithm will be used for encrypting password\n"
               "# If set to BCRYPT, BCRYPT-based algorithm will be used for encrypting password\n"
               "# If set to YESCRYPT, YESCRYPT-based algorithm will be used for encrypting password\n"
               "# If set to DES, DES-based algorithm will be used for encrypting password (default)\n"
               "# MD5 and DES should not be used for new hashes, see crypt(5) for recommendations.\n"
               "# Overrides the MD5_CRYPT_ENAB option\n"
               "#\n"
               "# Note: It is recommended to use a value consistent with\n"
               "# the PAM modules configuration.\n"
               "#\n"
               "ENCRYPT_METHOD SHA512\n"
               "\n"
               "#\n"
               "# Only works if ENCRYPT_METHOD is set to SHA256 or SHA512.\n"
               "#\n"
               "# Define the number of SHA rounds.\n"
               "# With a lot of rounds, it is more difficult to brute-force the password.\n"
               "# However, more CPU resources will be needed to authenticate users if\n"
               "# this value is increased.\n"
               "#\n"
               "# If not specified, the libc will choose the default number of rounds (5000),\n"
               "# which is orders of magnitude too low for modern hardware.\n"
               "# The values must be within the 1000-999999999 range.\n"
               "# If only one of the MIN or MAX values is set, then this value will be used.\n"
               "# If MIN > MAX, the highest value will be used.\n"
               "#\n"
               "#SHA_CRYPT_MIN_ROUNDS 5000\n"
               "#SHA_CRYPT_MAX_ROUNDS 5000\n"
               "\n"
               "#\n"
               "# Only works if ENCRYPT_METHOD is set to YESCRYPT.\n"
               "#\n"
               "# Define the YESCRYPT cost factor.\n"
               "# With a higher cost factor, it is more difficult to brute-force the password.\n"
               "# However, more CPU time and more memory will be needed to authenticate users\n"
               "# if this value is increased.\n"
               "#\n"
               "# If not specified, a cost factor of 5 will be used.\n"
               "# The value must be within the 1-11 range.\n"
               "#\n"
               "#YESCRYPT_COST_FACTOR 5\n"
               "\n"
               "#\n"
               "# The pwck(8) utility emits a warning for any system account with a home\n"
               "# directory that does not exist.  Some system accounts intentionally do\n"
               "# not have a home directory.  Such accounts may have this string as\n"
               "# their home directory in /etc/passwd to avoid a spurious warning.\n"
               "#\n"
               "NONEXISTENT\t/nonexistent\n"
               "\n"
               "#\n"
               "# Allow newuidmap and newgidmap when running under an alternative\n"
               "# primary group.\n"
               "#\n"
               "#GRANT_AUX_GROUP_SUBIDS yes\n"
               "\n"
               "#\n"
               "# Prevents an empty password field to be interpreted as \"no authentication\n"
               "# required\".\n"
               "# Set to \"yes\" to prevent for all accounts\n"
               "# Set to \"superuser\" to prevent for UID 0 / root (default)\n"
               "# Set to \"no\" to not prevent for any account (dangerous, historical default)\n"
               "PREVENT_NO_AUTH superuser\n"
               "\n"
               "#\n"
               "# Select the HMAC cryptography algorithm.\n"
               "# Used in pam_timestamp module to calculate the keyed-hash message\n"
               "# authentication code.\n"
               "#\n"
               "# Note: It is recommended to check hmac(3) to see the possible algorithms\n"
               "# that are available in your system.\n"
               "#\n"
               "#HMAC_CRYPTO_ALGO SHA512\n"
               "\n"
               "################# OBSOLETED BY PAM ##############\n"
               "#\t\t\t\t\t\t#\n"
               "# These options are now handled by PAM. Please\t#\n"
               "# edit the appropriate file in /etc/pam.d/ to\t#\n"
               "# enable the equivelants of them.\n"
               "#\n"
               "###############\n"
               "\n"
               "#MOTD_FILE\n"
               "#DIALUPS_CHECK_ENAB\n"
               "#LASTLOG_ENAB\n"
               "#MAIL_CHECK_ENAB\n"
               "#OBSCURE_CHECKS_ENAB\n"
               "#PORTTIME_CHECKS_ENAB\n"
               "#SU_WHEEL_ONLY\n"
               "#CRACKLIB_DICTPATH\n"
               "#PASS_CHANGE_TRIES\n"
               "#PASS_ALWAYS_WARN\n"
               "#ENVIRON_FILE\n"
               "#NOLOGINS_FILE\n"
               "#ISSUE_FILE\n"
               "#PASS_MIN_LEN\n"
               "#PASS_MAX_LEN\n"
               "#ULIMIT\n"
               "#ENV_HZ\n"
               "#CHFN_AUTH\n"
               "#CHSH_AUTH\n"
               "#FAIL_DELAY\n"
               "\n"
               "################# OBSOLETED #######################\n"
               "#\t\t\t\t\t\t  #\n"
               "# These options are no more handled by shadow.    #\n"
               "#                                                 #\n"
               "# Shadow utilities will display a warning if they #\n"
               "# still appear.                                   #\n"
               "#                                                 #\n"
               "###################################################\n"
               "\n"
               "# CLOSE_SESSIONS\n"
               "# LOGIN_STRING\n"
               "# NO_PASSWORD_CONSOLE\n"
               "# QMAIL_DIR\n"
               "\n"
               "\n"
               "\n")

_NSSWITCH = """\
# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.
# If you have the `glibc-doc-reference' and `info' packages installed, try:
# `info libc "Name Service Switch"' for information about this file.

passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
"""

SHIPPED: dict[str, str] = {
    # base-files
    "/usr/lib/os-release": OS_RELEASE,
    "/etc/debian_version": "12.12\n",
    "/etc/issue": "Debian GNU/Linux 12 \\n \\l\n\n",
    "/etc/issue.net": "Debian GNU/Linux 12\n",
    "/etc/host.conf": "multi on\n",
    "/etc/motd": _MOTD,
    "/usr/share/base-files/motd": _MOTD,
    "/etc/profile": _PROFILE,
    "/usr/share/base-files/profile": _PROFILE,
    "/usr/share/base-files/dot.bashrc": ("# ~/.bashrc: executed by bash(1) for non-login shells.\n"
                                          "\n"
                                          "# Note: PS1 and umask are already set in /etc/profile. You should not\n"
                                          "# need this unless you want different defaults for root.\n"
                                          "# PS1='${debian_chroot:+($debian_chroot)}\\h:\\w\\$ '\n"
                                          "# umask 022\n"
                                          "\n"
                                          "# You may uncomment the following lines if you want `ls' to be colorized:"
                                          "\n"
                                          "# export LS_OPTIONS='--color=auto'\n"
                                          "# eval \"$(dircolors)\"\n"
                                          "# alias ls='ls $LS_OPTIONS'\n"
                                          "# alias ll='ls $LS_OPTIONS -l'\n"
                                          "# alias l='ls $LS_OPTIONS -lA'\n"
                                          "#\n"
                                          "# Some more alias to avoid making mistakes:\n"
                                          "# alias rm='rm -i'\n"
                                          "# alias cp='cp -i'\n"
                                          "# alias mv='mv -i'\n"),
    "/etc/dpkg/origins/debian": "Vendor: Debian\nVendor-URL: https://www.debian.org/\nBugs: debbugs://bugs.debian.org\n",
    "/etc/update-motd.d/10-uname": "#!/bin/sh\nuname -snrvm\n",
    # bash
    "/etc/bash.bashrc": _BASH_BASHRC,
    "/etc/skel/.bashrc": _SKEL_BASHRC,
    "/etc/skel/.profile": _SKEL_PROFILE,
    "/etc/skel/.bash_logout": _SKEL_LOGOUT,
    # rsyslog, logrotate, cron
    "/etc/rsyslog.conf": _RSYSLOG,
    "/etc/logrotate.conf": _LOGROTATE,
    **{f"/etc/logrotate.d/{name}": text for name, text in _LOGROTATE_D.items()},
    "/etc/crontab": _CRONTAB,
    "/etc/default/cron": ("# Cron configuration options\n"
                           "\n"
                           "# Whether to read the system's default environment files (if present)\n"
                           "# If set to \"yes\", cron will set a proper mail charset from the\n"
                           "# locale information. If set to something other than 'yes', the default\n"
                           "# charset 'C' (canonical name: ANSI_X3.4-1968) will be used.\n"
                           "#\n"
                           "# This has no effect on tasks running under cron; their environment can\n"
                           "# only be changed via PAM or from within the crontab; see crontab(5).\n"
                           "READ_ENV=\"yes\"\n"
                           "\n"
                           "# Extra options for cron, see cron(8)\n"
                           "#\n"
                           "# For example, to enable LSB name support in /etc/cron.d/, use\n"
                           "# EXTRA_OPTS='-l'  \n"
                           "#\n"
                           "# Or, to log standard messages, plus jobs with exit status != 0:\n"
                           "# EXTRA_OPTS='-L 5'\n"
                           "#\n"
                           "# For quick reference, the currently available log levels are:\n"
                           "#   0   no logging (errors are logged regardless)\n"
                           "#   1   log start of jobs\n"
                           "#   2   log end of jobs\n"
                           "#   4   log jobs with exit status != 0\n"
                           "#   8   log the process identifier of child process (in all logs)\n"
                           "#\n"
                           "#EXTRA_OPTS=\"\"\n"
                           "\n"),
    "/etc/cron.d/.placeholder": "# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg from "
                                "removing this directory\n",
    "/etc/cron.daily/.placeholder": "# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg from "
                                    "removing this directory\n",
    "/etc/cron.hourly/.placeholder": "# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg from "
                                     "removing this directory\n",
    "/etc/cron.weekly/.placeholder": "# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg from "
                                     "removing this directory\n",
    "/etc/cron.monthly/.placeholder": "# DO NOT EDIT OR REMOVE\n# This file is a simple placeholder to keep dpkg "
                                      "from removing this directory\n",
    # PAM
    "/etc/pam.d/common-auth": _COMMON_AUTH,
    "/etc/pam.d/common-account": _COMMON_ACCOUNT,
    "/etc/pam.d/common-password": _COMMON_PASSWORD,
    "/etc/pam.d/common-session": _COMMON_SESSION,
    "/etc/pam.d/common-session-noninteractive": _COMMON_SESSION_NONINTERACTIVE,
    "/etc/pam.d/sshd": _PAM_SSHD,
    "/etc/pam.d/login": _PAM_LOGIN,
    "/etc/pam.d/su": _PAM_SU,
    "/etc/pam.d/sudo": ("#%PAM-1.0\n"
                        "\n"
                        "# Set up user limits from /etc/security/limits.conf.\n"
                        "session    required   pam_limits.so\n"
                        "\n"
                        "@include common-auth\n"
                        "@include common-account\n"
                        "@include common-session-noninteractive\n"),
    "/etc/pam.d/sudo-i": ("#%PAM-1.0\n"
                          "\n"
                          "# Set up user limits from /etc/security/limits.conf.\n"
                          "session    required   pam_limits.so\n"
                          "\n"
                          "@include common-auth\n"
                          "@include common-account\n"
                          "@include common-session\n"),
    "/etc/pam.d/other": _PAM_OTHER,
    "/etc/pam.d/cron": ("# The PAM configuration file for the cron daemon\n\n@include common-auth\n\n"
                        "# Sets the loginuid process attribute\nsession    required     pam_loginuid.so\n\n"
                        "# Read environment variables from pam_env's default files, /etc/environment\n"
                        "# and /etc/security/pam_env.conf.\nsession       required   pam_env.so\n\n"
                        "# In addition, read system locale information\nsession       required   pam_env.so "
                        "envfile=/etc/default/locale\n\n@include common-account\n"
                        "@include common-session-noninteractive \n\n"
                        "# Sets up user limits, please define limits for cron tasks\n"
                        "# through /etc/security/limits.conf\nsession    required   pam_limits.so\n\n"),
    "/etc/pam.d/runuser": ("#%PAM-1.0\nauth\t\tsufficient\tpam_rootok.so\nsession\t\toptional\tpam_keyinit.so revoke"
                           "\nsession\t\trequired\tpam_limits.so\nsession\t\trequired\tpam_unix.so\n"),
    "/etc/pam.d/runuser-l": "#%PAM-1.0\nauth\t\tinclude\t\trunuser\nsession\t\toptional\tpam_keyinit.so force revoke"
                            "\n-session\toptional\tpam_systemd.so\nsession\t\tinclude\t\trunuser\n",
    "/etc/pam.d/passwd": "#\n# The PAM configuration file for the Shadow `passwd' service\n#\n\n"
                         "@include common-password\n\n",
    "/etc/pam.d/chfn": ("#\n"
                        "# The PAM configuration file for the Shadow `chfn' service\n"
                        "#\n"
                        "\n"
                        "# This allows root to change user infomation without being\n"
                        "# prompted for a password\n"
                        "auth\t\tsufficient\tpam_rootok.so\n"
                        "\n"
                        "# The standard Unix authentication modules, used with\n"
                        "# NIS (man nsswitch) as well as normal /etc/passwd and\n"
                        "# /etc/shadow entries.\n"
                        "@include common-auth\n"
                        "@include common-account\n"
                        "@include common-session\n"
                        "\n"
                        "\n"),
    "/etc/pam.d/chsh": "#\n# The PAM configuration file for the Shadow `chsh' service\n#\n\n"
                       "# This will not allow a user to change their shell unless\n"
                       "# their current one is listed in /etc/shells. This keeps\n"
                       "# accounts with special shells from changing them.\nauth       required   pam_shells.so\n\n"
                       "# This allows root to change user shell without being\n# prompted for a password\n"
                       "auth\t\tsufficient\tpam_rootok.so\n\n# The standard Unix authentication modules, used with\n"
                       "# NIS (man nsswitch) as well as normal /etc/passwd and\n# /etc/shadow entries.\n"
                       "@include common-auth\n@include common-account\n@include common-session\n\n",
    "/etc/pam.d/chpasswd": "# The PAM configuration file for the Shadow 'chpasswd' service\n#\n\n"
                           "@include common-password\n\n",
    "/etc/pam.d/newusers": "# The PAM configuration file for the Shadow 'newusers' service\n#\n\n"
                           "@include common-password\n\n",
    "/etc/security/limits.conf": _LIMITS,
    # networking
    "/etc/NetworkManager/NetworkManager.conf": "[main]\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n",
    "/etc/ssh/ssh_config": _SSH_CONFIG,
    "/etc/default/ssh": ("# Default settings for openssh-server. This file is sourced by /bin/sh from\n"
                         "# /etc/init.d/ssh.\n\n# Options to pass to sshd\nSSHD_OPTS=\n"),
    # accounts
    "/etc/adduser.conf": _ADDUSER,
    "/etc/deluser.conf": _DELUSER,
    "/etc/login.defs": _LOGIN_DEFS,
    "/etc/sudoers": _SUDOERS,
    "/etc/sudoers.d/README": _SUDOERS_README,
    "/etc/securetty": "# /etc/securetty: list of terminals on which root is allowed to login.\n"
                      "# See securetty(5) and login(1).\n\nconsole\n\n# Local X displays (allows empty passwords "
                      "with pam_unix's nullok_secure)\n:0\n:0.0\n:0.1\n:1\n:1.0\n:1.1\n:2\n:2.0\n:2.1\n:3\n:3.0\n"
                      ":3.1\n\n# Virtual consoles\ntty1\ntty2\ntty3\ntty4\ntty5\ntty6\ntty7\ntty8\ntty9\ntty10\n"
                      "tty11\ntty12\n",
    "/etc/environment": "",
    # desktop
    "/etc/gdm3/daemon.conf": _GDM3,
    "/etc/default/grub": _DEFAULT_GRUB,
    # apt, dpkg, debconf
    "/etc/apt/apt.conf.d/01autoremove": _APT_AUTOREMOVE,
    "/etc/apt/apt.conf.d/70debconf": _APT_DEBCONF,
    "/etc/apt/apt.conf.d/50command-not-found": _APT_CNF,
    "/etc/dpkg/dpkg.cfg": ("# dpkg configuration file\n"
                            "#\n"
                            "# This file can contain default options for dpkg.  All command-line\n"
                            "# options are allowed.  Values can be specified by putting them after\n"
                            "# the option, separated by whitespace and/or an `=' sign.\n"
                            "#\n"
                            "\n"
                            "# Do not enable debsig-verify by default; since the distribution is not using\n"
                            "# embedded signatures, debsig-verify would reject all packages.\n"
                            "no-debsig\n"
                            "\n"
                            "# Log status changes and actions to a file.\n"
                            "log /var/log/dpkg.log\n"),
    "/etc/debconf.conf": ("# This is the main config file for debconf. It tells debconf where to\n"
                          "# store data. The format of this file is a set of stanzas. Each stanza\n"
                          "# except the first sets up a database for debconf to use. For details, see\n"
                          "# debconf.conf(5) (in the debconf-doc package).\n"
                          "#\n"
                          "# So first things first. This first stanza gives the names of two databases.\n"
                          "\n"
                          "# Debconf will use this database to store the data you enter into it,\n"
                          "# and some other dynamic data.\n"
                          "Config: configdb\n"
                          "# Debconf will use this database to store static template data.\n"
                          "Templates: templatedb\n"
                          "\n"
                          "# World-readable, and accepts everything but passwords.\n"
                          "Name: config\n"
                          "Driver: File\n"
                          "Mode: 644\n"
                          "Reject-Type: password\n"
                          "Filename: /var/cache/debconf/config.dat\n"
                          "\n"
                          "# Not world readable (the default), and accepts only passwords.\n"
                          "Name: passwords\n"
                          "Driver: File\n"
                          "Mode: 600\n"
                          "Backup: false\n"
                          "Required: false\n"
                          "Accept-Type: password\n"
                          "Filename: /var/cache/debconf/passwords.dat\n"
                          "\n"
                          "# Set up the configdb database. By default, it consists of a stack of two\n"
                          "# databases, one to hold passwords and one for everything else.\n"
                          "Name: configdb\n"
                          "Driver: Stack\n"
                          "Stack: config, passwords\n"
                          "\n"
                          "# Set up the templatedb database, which is a single flat text file\n"
                          "# by default.\n"
                          "Name: templatedb\n"
                          "Driver: File\n"
                          "Mode: 644\n"
                          "Filename: /var/cache/debconf/templates.dat\n"
                          "\n"
                          "# Well that was pretty straightforward, and it will be enough for most\n"
                          "# people's needs, but debconf's database drivers can be used to do much\n"
                          "# more interesting things. For example, suppose you want to use config \n"
                          "# data from another host, which is mounted over nfs or perhaps the database\n"
                          "# is accessed via LDAP. You don't want to write to the remote debconf database,\n"
                          "# just read from it, so you still need a local database for local changes.\n"
                          "#\n"
                          "# A remote NFS mounted database, read-only. It is optional; if debconf\n"
                          "# fails to use it it will not abort.\n"
                          "#Name: remotedb\n"
                          "#Driver: DirTree\n"
                          "#Directory: /mnt/otherhost/var/cache/debconf/config\n"
                          "#Readonly: true\n"
                          "#Required: false\n"
                          "#\n"
                          "# A remote LDAP database. It is also read-only. The password is really\n"
                          "# only necessary if the database is not accessible anonymously.\n"
                          "# Option KeyByKey instructs the backend to retrieve keys from the LDAP\n"
                          "# server individually (when they are requested), instead of loading all\n"
                          "# keys at startup. The default is 0, and should only be enabled if you\n"
                          "# want to track accesses to individual keys on the LDAP server side.\n"
                          "#Name: remotedb\n"
                          "#Driver: LDAP\n"
                          "#Server: remotehost\n"
                          "#BaseDN: cn=debconf,dc=domain,dc=com\n"
                          "#BindDN: uid=admin,dc=domain,dc=com\n"
                          "#BindPasswd: secret\n"
                          "#KeyByKey: 0\n"
                          "#\n"
                          "# A stack consisting of two databases. Values will be read from\n"
                          "# the first database in the stack to contain a value. In this example,\n"
                          "# writes always go to the first database.\n"
                          "#Name: fulldb\n"
                          "#Driver: Stack\n"
                          "#Stack: configdb, remotedb\n"
                          "#\n"
                          "# In this example, we'd use Config: fulldb at the top of the file\n"
                          "# to make it use the combination of the databases.\n"
                          "#\n"
                          "# Even more complex and interesting setups are possible, see the \n"
                          "# debconf.conf(5) page for details.\n"),
    # systemd
    "/etc/systemd/journald.conf": _systemd("journald.conf", "journald.conf(5)", _JOURNALD),
    "/etc/systemd/logind.conf": _systemd("logind.conf", "logind.conf(5)", _LOGIND),
    "/etc/systemd/system.conf": ("#  This file is part of systemd.\n"
                                 "#\n"
                                 "#  systemd is free software; you can redistribute it and/or modify it under the\n"
                                 "#  terms of the GNU Lesser General Public License as published by the Free\n"
                                 "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                                 "#  any later version.\n"
                                 "#\n"
                                 "# Entries in this file show the compile time defaults. Local configuration\n"
                                 "# should be created by either modifying this file, or by creating \"drop-ins\" in\n"
                                 "# the system.conf.d/ subdirectory. The latter is generally recommended.\n"
                                 "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                                 "#\n"
                                 "# Use 'systemd-analyze cat-config systemd/system.conf' to display the full config."
                                 "\n"
                                 "#\n"
                                 "# See systemd-system.conf(5) for details.\n"
                                 "\n"
                                 "[Manager]\n"
                                 "#LogLevel=info\n"
                                 "#LogTarget=journal-or-kmsg\n"
                                 "#LogColor=yes\n"
                                 "#LogLocation=no\n"
                                 "#LogTime=no\n"
                                 "#DumpCore=yes\n"
                                 "#ShowStatus=yes\n"
                                 "#CrashChangeVT=no\n"
                                 "#CrashShell=no\n"
                                 "#CrashReboot=no\n"
                                 "#CtrlAltDelBurstAction=reboot-force\n"
                                 "#CPUAffinity=\n"
                                 "#NUMAPolicy=default\n"
                                 "#NUMAMask=\n"
                                 "#RuntimeWatchdogSec=off\n"
                                 "#RuntimeWatchdogPreSec=off\n"
                                 "#RuntimeWatchdogPreGovernor=\n"
                                 "#RebootWatchdogSec=10min\n"
                                 "#KExecWatchdogSec=off\n"
                                 "#WatchdogDevice=\n"
                                 "#CapabilityBoundingSet=\n"
                                 "#NoNewPrivileges=no\n"
                                 "#SystemCallArchitectures=\n"
                                 "#TimerSlackNSec=\n"
                                 "#StatusUnitFormat=combined\n"
                                 "#DefaultTimerAccuracySec=1min\n"
                                 "#DefaultStandardOutput=journal\n"
                                 "#DefaultStandardError=inherit\n"
                                 "#DefaultTimeoutStartSec=90s\n"
                                 "#DefaultTimeoutStopSec=90s\n"
                                 "#DefaultTimeoutAbortSec=\n"
                                 "#DefaultDeviceTimeoutSec=90s\n"
                                 "#DefaultRestartSec=100ms\n"
                                 "#DefaultStartLimitIntervalSec=10s\n"
                                 "#DefaultStartLimitBurst=5\n"
                                 "#DefaultEnvironment=\n"
                                 "#DefaultCPUAccounting=yes\n"
                                 "#DefaultIOAccounting=no\n"
                                 "#DefaultIPAccounting=no\n"
                                 "#DefaultMemoryAccounting=yes\n"
                                 "#DefaultTasksAccounting=yes\n"
                                 "#DefaultTasksMax=15%\n"
                                 "#DefaultLimitCPU=\n"
                                 "#DefaultLimitFSIZE=\n"
                                 "#DefaultLimitDATA=\n"
                                 "#DefaultLimitSTACK=\n"
                                 "#DefaultLimitCORE=\n"
                                 "#DefaultLimitRSS=\n"
                                 "#DefaultLimitNOFILE=1024:524288\n"
                                 "#DefaultLimitAS=\n"
                                 "#DefaultLimitNPROC=\n"
                                 "#DefaultLimitMEMLOCK=8M\n"
                                 "#DefaultLimitLOCKS=\n"
                                 "#DefaultLimitSIGPENDING=\n"
                                 "#DefaultLimitMSGQUEUE=\n"
                                 "#DefaultLimitNICE=\n"
                                 "#DefaultLimitRTPRIO=\n"
                                 "#DefaultLimitRTTIME=\n"
                                 "#DefaultOOMPolicy=stop\n"
                                 "#DefaultSmackProcessLabel=\n"),
    "/etc/systemd/user.conf": ("#  This file is part of systemd.\n"
                               "#\n"
                               "#  systemd is free software; you can redistribute it and/or modify it under the\n"
                               "#  terms of the GNU Lesser General Public License as published by the Free\n"
                               "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                               "#  any later version.\n"
                               "#\n"
                               "# Entries in this file show the compile time defaults. Local configuration\n"
                               "# should be created by either modifying this file, or by creating \"drop-ins\" in\n"
                               "# the user.conf.d/ subdirectory. The latter is generally recommended.\n"
                               "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                               "#\n"
                               "# See systemd-user.conf(5) for details.\n"
                               "\n"
                               "[Manager]\n"
                               "#LogLevel=info\n"
                               "#LogTarget=auto\n"
                               "#LogColor=yes\n"
                               "#LogLocation=no\n"
                               "#LogTime=no\n"
                               "#SystemCallArchitectures=\n"
                               "#TimerSlackNSec=\n"
                               "#StatusUnitFormat=combined\n"
                               "#DefaultTimerAccuracySec=1min\n"
                               "#DefaultStandardOutput=inherit\n"
                               "#DefaultStandardError=inherit\n"
                               "#DefaultTimeoutStartSec=90s\n"
                               "#DefaultTimeoutStopSec=90s\n"
                               "#DefaultTimeoutAbortSec=\n"
                               "#DefaultRestartSec=100ms\n"
                               "#DefaultStartLimitIntervalSec=10s\n"
                               "#DefaultStartLimitBurst=5\n"
                               "#DefaultEnvironment=\n"
                               "#DefaultLimitCPU=\n"
                               "#DefaultLimitFSIZE=\n"
                               "#DefaultLimitDATA=\n"
                               "#DefaultLimitSTACK=\n"
                               "#DefaultLimitCORE=\n"
                               "#DefaultLimitRSS=\n"
                               "#DefaultLimitNOFILE=\n"
                               "#DefaultLimitAS=\n"
                               "#DefaultLimitNPROC=\n"
                               "#DefaultLimitMEMLOCK=\n"
                               "#DefaultLimitLOCKS=\n"
                               "#DefaultLimitSIGPENDING=\n"
                               "#DefaultLimitMSGQUEUE=\n"
                               "#DefaultLimitNICE=\n"
                               "#DefaultLimitRTPRIO=\n"
                               "#DefaultLimitRTTIME=\n"
                               "#DefaultSmackProcessLabel=\n"),
    "/etc/systemd/timesyncd.conf": ("#  This file is part of systemd.\n"
                                    "#\n"
                                    "#  systemd is free software; you can redistribute it and/or modify it under the"
                                    "\n"
                                    "#  terms of the GNU Lesser General Public License as published by the Free\n"
                                    "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                                    "#  any later version.\n"
                                    "#\n"
                                    "# Entries in this file show the compile time defaults. Local configuration\n"
                                    "# should be created by either modifying this file, or by creating \"drop-ins\" i"
                                    "n\n"
                                    "# the timesyncd.conf.d/ subdirectory. The latter is generally recommended.\n"
                                    "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                                    "#\n"
                                    "# See timesyncd.conf(5) for details.\n"
                                    "\n"
                                    "[Time]\n"
                                    "#NTP=\n"
                                    "#FallbackNTP=0.debian.pool.ntp.org 1.debian.pool.ntp.org 2.debian.pool.ntp.org 3"
                                    ".debian.pool.ntp.org\n"
                                    "#RootDistanceMaxSec=5\n"
                                    "#PollIntervalMinSec=32\n"
                                    "#PollIntervalMaxSec=2048\n"
                                    "#ConnectionRetrySec=30\n"
                                    "#SaveIntervalSec=60\n"),
    "/etc/systemd/resolved.conf": _systemd("resolved.conf", "resolved.conf(5)", _RESOLVED),
    # libc, procps, e2fsprogs, kmod
    "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n\n",
    "/etc/ld.so.conf.d/libc.conf": "# libc default configuration\n/usr/local/lib\n",
    "/etc/sysctl.conf": _SYSCTL,
    "/etc/mke2fs.conf": _MKE2FS,
    "/etc/modules-load.d/modules.conf": ("# /etc/modules: kernel modules to load at boot time.\n#\n"
                                         "# This file contains the names of kernel modules that should be loaded\n"
                                         "# at boot time, one per line. Lines beginning with \"#\" are ignored.\n"
                                         "# Parameters can be specified after the module name.\n\n"),
    "/etc/modprobe.d/.placeholder": "",
}

_CRON_DAILY_LOGROTATE = """\
#!/bin/sh

# skip in favour of systemd timer
if [ -d /run/systemd/system ]; then
    exit 0
fi

# this cronjob persists removals (but not purges)
if [ ! -x /usr/sbin/logrotate ]; then
    exit 0
fi

/usr/sbin/logrotate /etc/logrotate.conf
EXITVALUE=$?
if [ $EXITVALUE != 0 ]; then
    /usr/bin/logger -t logrotate "ALERT exited abnormally with [$EXITVALUE]"
fi
exit $EXITVALUE
"""

_CRON_DAILY_APT = """\
#!/bin/sh

set -e

# Systemd systems use a systemd timer unit which is preferable to
# run. We want to randomize the apt update and unattended-upgrade
# runs as much as possible to avoid hitting the mirrors all at the
# same time. The systemd time is better at this than the fixed
# cron.daily time
if [ -d /run/systemd/system ]; then
    exit 0
fi

check_power()
{
    # laptop check, on_ac_power returns:
    #       0 (true)    System is on main power
    #       1 (false)   System is not on main power
    #       255 (false) Power status could not be determined
    # Desktop systems always return 255 it seems
    if command -v on_ac_power >/dev/null; then
        if on_ac_power; then
            :
        elif [ $? -eq 1 ]; then
            return 1
        fi
    fi
    return 0
}

# sleep for a random interval of time (default 30min)
# (some code taken from cron-apt, thanks)
random_sleep()
{
    RandomSleep=1800
    eval $(apt-config shell RandomSleep APT::Periodic::RandomSleep)
    if [ $RandomSleep -eq 0 ]; then
\treturn
    fi
    if [ -z "$RANDOM" ] ; then
        # A fix for shells that do not have this bash feature.
\tRANDOM=$(( $(dd if=/dev/urandom bs=2 count=1 2> /dev/null | cksum | cut -d' ' -f1) % 32767 ))
    fi
    TIME=$(($RANDOM % $RandomSleep))
    sleep $TIME
}

# delay the job execution by a random amount of time
random_sleep

# ensure we don't do this on battery
check_power || exit 0

# run daily job
exec /usr/lib/apt/apt.systemd.daily
"""

_CRON_WEEKLY_MANDB = ("#!/bin/sh\n"
                      "#\n"
                      "# man-db cron weekly\n"
                      "\n"
                      "set -e\n"
                      "\n"
                      "if [ -d /run/systemd/system ]; then\n"
                      "    # Skip in favour of systemd timer.\n"
                      "    exit 0\n"
                      "fi\n"
                      "\n"
                      "# This should be set by cron, but apparently isn't always; see\n"
                      "# https://bugs.debian.org/209185.  Add fallbacks so that start-stop-daemon\n"
                      "# can be found.\n"
                      "export PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"\n"
                      "\n"
                      "iosched_idle=\n"
                      "# Don't try to change I/O priority in a vserver or OpenVZ.\n"
                      "if ! grep -Eq '(envID|VxID):.*[1-9]' /proc/self/status && \\\n"
                      "   { [ ! -d /proc/vz ] || [ -d /proc/bc ]; }; then\n"
                      "    iosched_idle='--iosched idle'\n"
                      "fi\n"
                      "\n"
                      "if ! [ -d /var/cache/man ]; then\n"
                      "    # Recover from deletion, per FHS.\n"
                      "    install -d -o man -g man -m 0755 /var/cache/man\n"
                      "fi\n"
                      "\n"
                      "# regenerate man database\n"
                      "if [ -x /usr/bin/mandb ]; then\n"
                      "    # --pidfile /dev/null so it always starts; mandb isn't really a daemon,\n"
                      "    # but we want to start it like one.\n"
                      "    # shellcheck disable=SC2086\n"
                      "    start-stop-daemon --start --pidfile /dev/null \\\n"
                      "\t\t      --startas /usr/bin/mandb --oknodo --chuid man \\\n"
                      "\t\t      $iosched_idle \\\n"
                      "\t\t      -- --quiet\n"
                      "fi\n"
                      "\n"
                      "exit 0\n")

_DEFAULT_USERADD = ("# Default values for useradd(8)\n"
                    "#\n"
                    "# The SHELL variable specifies the default login shell on your\n"
                    "# system.\n"
                    "# Similar to DSHELL in adduser. However, we use \"sh\" here because\n"
                    "# useradd is a low level utility and should be as general\n"
                    "# as possible\n"
                    "SHELL=/bin/sh\n"
                    "#\n"
                    "# The default group for users\n"
                    "# 100=users on Debian systems\n"
                    "# Same as USERS_GID in adduser\n"
                    "# This argument is used when the -n flag is specified.\n"
                    "# The default behavior (when -n and -g are not specified) is to create a\n"
                    "# primary user group with the same name as the user being added to the\n"
                    "# system.\n"
                    "# GROUP=100\n"
                    "#\n"
                    "# The default home directory. Same as DHOME for adduser\n"
                    "# HOME=/home\n"
                    "#\n"
                    "# The number of days after a password expires until the account \n"
                    "# is permanently disabled\n"
                    "# INACTIVE=-1\n"
                    "#\n"
                    "# The default expire date\n"
                    "# EXPIRE=\n"
                    "#\n"
                    "# The SKEL variable specifies the directory containing \"skeletal\" user\n"
                    "# files; in other words, files such as a sample .profile that will be\n"
                    "# copied to the new user's home directory when it is created.\n"
                    "# SKEL=/etc/skel\n"
                    "#\n"
                    "# Defines whether the mail spool should be created while\n"
                    "# creating the account\n"
                    "# CREATE_MAIL_SPOOL=no\n"
                    "\n")

_DHCLIENT = ("# Configuration file for /sbin/dhclient.\n"
             "#\n"
             "# This is a sample configuration file for dhclient. See dhclient.conf's\n"
             "#\tman page for more information about the syntax of this file\n"
             "#\tand a more comprehensive list of the parameters understood by\n"
             "#\tdhclient.\n"
             "#\n"
             "# Normally, if the DHCP server provides reasonable information and does\n"
             "#\tnot leave anything out (like the domain name, for example), then\n"
             "#\tfew changes must be made to this file, if any.\n"
             "#\n"
             "\n"
             "option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n"
             "\n"
             "send host-name = gethostname();\n"
             "request subnet-mask, broadcast-address, time-offset, routers,\n"
             "\tdomain-name, domain-name-servers, domain-search, host-name,\n"
             "\tdhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn, dhcp6.sntp-servers,\n"
             "\tnetbios-name-servers, netbios-scope, interface-mtu,\n"
             "\trfc3442-classless-static-routes, ntp-servers;\n"
             "\n"
             "#send dhcp-client-identifier 1:0:a0:24:ab:fb:9c;\n"
             "#send dhcp-lease-time 3600;\n"
             "#supersede domain-name \"fugue.com home.vix.com\";\n"
             "#prepend domain-name-servers 127.0.0.1;\n"
             "#require subnet-mask, domain-name-servers;\n"
             "#timeout 60;\n"
             "#retry 60;\n"
             "#reboot 10;\n"
             "#select-timeout 5;\n"
             "#initial-interval 2;\n"
             "#script \"/sbin/dhclient-script\";\n"
             "#media \"-link0 -link1 -link2\", \"link0 link1\";\n"
             "#reject 192.33.137.209;\n"
             "\n"
             "#alias {\n"
             "#  interface \"eth0\";\n"
             "#  fixed-address 192.5.5.213;\n"
             "#  option subnet-mask 255.255.255.255;\n"
             "#}\n"
             "\n"
             "#lease {\n"
             "#  interface \"eth0\";\n"
             "#  fixed-address 192.33.137.200;\n"
             "#  medium \"link0 link1\";\n"
             "#  option host-name \"andare.swiftmedia.com\";\n"
             "#  option subnet-mask 255.255.255.0;\n"
             "#  option broadcast-address 192.33.137.255;\n"
             "#  option routers 192.33.137.250;\n"
             "#  option domain-name-servers 127.0.0.1;\n"
             "#  renew 2 2000/1/12 00:00:01;\n"
             "#  rebind 2 2000/1/12 00:00:01;\n"
             "#  expire 2 2000/1/12 00:00:01;\n"
             "#}\n")

_FONTS_README = ("conf.d/README\n"
                 "\n"
                 "Each file in this directory is a fontconfig configuration file.  Fontconfig\n"
                 "scans this directory, loading all files of the form [0-9][0-9]*.conf.\n"
                 "These files are normally installed in /usr/share/fontconfig/conf.avail\n"
                 "and then symlinked here, allowing them to be easily installed and then\n"
                 "enabled/disabled by adjusting the symlinks.\n"
                 "\n"
                 "The files are loaded in numeric order, the structure of the configuration\n"
                 "has led to the following conventions in usage:\n"
                 "\n"
                 " Files beginning with:\tContain:\n"
                 " \n"
                 " 00 through 09\t\tFont directories\n"
                 " 10 through 19\t\tsystem rendering defaults (AA, etc)\n"
                 " 20 through 29\t\tfont rendering options\n"
                 " 30 through 39\t\tfamily substitution\n"
                 " 40 through 49\t\tgeneric identification, map family->generic\n"
                 " 50 through 59\t\talternate config file loading\n"
                 " 60 through 69\t\tgeneric aliases, map generic->family\n"
                 " 70 through 79\t\tselect font (adjust which fonts are available)\n"
                 " 80 through 89\t\tmatch target=\"scan\" (modify scanned patterns)\n"
                 " 90 through 99\t\tfont synthesis\n")

_SYSCTL_README = """\
Kernel system variables configuration files

Files found under the /etc/sysctl.d directory that end with .conf are
parsed within sysctl(8) at boot time.  If you want to set kernel variables
you can either edit /etc/sysctl.conf or make a new file.

The filename isn't important, but don't make it a package name as it may clash
with something the package builder needs later. It must end with .conf though.

My personal preference would be for local system settings to go into
/etc/sysctl.d/local.conf but as long as you follow the rules for the names
of the file, anything will work. See sysctl.conf(8) man page for details
of the format.

After making any changes, please run "service procps force-reload" (or, from
a Debian package maintainer script "deb-systemd-invoke restart procps.service").
"""

_RT_PROTOS = ("#\n"
              "# Reserved protocols.\n"
              "#\n"
              "0\tunspec\n"
              "1\tredirect\n"
              "2\tkernel\n"
              "3\tboot\n"
              "4\tstatic\n"
              "8\tgated\n"
              "9\tra\n"
              "10\tmrt\n"
              "11\tzebra\n"
              "12\tbird\n"
              "13\tdnrouted\n"
              "14\txorp\n"
              "15\tntk\n"
              "16\tdhcp\n"
              "18\tkeepalived\n"
              "42\tbabel\n"
              "99\topenr\n"
              "186\tbgp\n"
              "187\tisis\n"
              "188\tospf\n"
              "189\trip\n"
              "192\teigrp\n")

_VIMRC_TINY = """\
" Vim configuration file, in effect when invoked as "vi". The aim of this
" configuration file is to provide a Vim environment as compatible with the
" original vi as possible. Note that ~/.vimrc configuration files as other
" configuration files in the runtimepath are still sourced.
" When Vim is invoked differently ("vim", "view", "evim", ...) this file is
" _not_ sourced; /etc/vim/vimrc and/or /etc/vim/gvimrc are.

" Debian system-wide default configuration Vim
set runtimepath=~/.vim,/var/lib/vim/addons,/usr/share/vim/vimfiles,/usr/share/vim/vim90,\
/usr/share/vim/vimfiles/after,/var/lib/vim/addons/after,~/.vim/after

set compatible

" vim: set ft=vim:
"""

SHIPPED.update({
    "/etc/pam.d/gdm-password": ("#%PAM-1.0\n"
                                "auth    requisite       pam_nologin.so\n"
                                "auth\trequired\tpam_succeed_if.so user != root quiet_success\n"
                                "@include common-auth\n"
                                "auth    optional        pam_gnome_keyring.so\n"
                                "@include common-account\n"
                                "# SELinux needs to be the first session rule. This ensures that any \n"
                                "# lingering context has been cleared. Without this it is possible \n"
                                "# that a module could execute code in the wrong domain.\n"
                                "session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_seli"
                                "nux.so close\n"
                                "session required        pam_loginuid.so\n"
                                "# SELinux needs to intervene at login time to ensure that the process\n"
                                "# starts in the proper default security context. Only sessions which are\n"
                                "# intended to run in the user's context should be run after this.\n"
                                "# pam_selinux.so changes the SELinux context of the used TTY and configures\n"
                                "# SELinux in order to transition to the user context with the next execve()\n"
                                "# call.\n"
                                "session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_seli"
                                "nux.so open\n"
                                "session optional        pam_keyinit.so force revoke\n"
                                "session required        pam_limits.so\n"
                                "session required        pam_env.so readenv=1\n"
                                "session required        pam_env.so readenv=1 envfile=/etc/default/locale\n"
                                "@include common-session\n"
                                "session optional        pam_gnome_keyring.so auto_start\n"
                                "@include common-password\n"),
    "/etc/pam.d/gdm-autologin": ("#%PAM-1.0\n"
                                 "auth    requisite       pam_nologin.so\n"
                                 "auth\trequired\tpam_succeed_if.so user != root quiet_success\n"
                                 "auth\toptional\tpam_gdm.so\n"
                                 "auth\toptional\tpam_gnome_keyring.so\n"
                                 "auth    required        pam_permit.so\n"
                                 "@include common-account\n"
                                 "# SELinux needs to be the first session rule. This ensures that any \n"
                                 "# lingering context has been cleared. Without this it is possible \n"
                                 "# that a module could execute code in the wrong domain.\n"
                                 "session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_sel"
                                 "inux.so close\n"
                                 "session required        pam_loginuid.so\n"
                                 "# SELinux needs to intervene at login time to ensure that the process\n"
                                 "# starts in the proper default security context. Only sessions which are\n"
                                 "# intended to run in the user's context should be run after this.\n"
                                 "session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_sel"
                                 "inux.so open\n"
                                 "session optional        pam_keyinit.so force revoke\n"
                                 "session required        pam_limits.so\n"
                                 "session required        pam_env.so readenv=1\n"
                                 "session required        pam_env.so readenv=1 envfile=/etc/default/locale\n"
                                 "@include common-session\n"
                                 "session optional        pam_gnome_keyring.so auto_start\n"
                                 "@include common-password\n"),
    "/etc/pam.conf": ("# ---------------------------------------------------------------------------#\n"
                      "# /etc/pam.conf\t\t\t\t\t\t\t\t     #\n"
                      "# ---------------------------------------------------------------------------#\n#\n# NOTE\n"
                      "# ----\n#\n# NOTE: Most program use a file under the /etc/pam.d/ directory to setup their\n"
                      "# PAM service modules. This file is used only if that directory does not exist.\n"
                      "# ---------------------------------------------------------------------------#\n\n"
                      "# Format:\n# serv.\tmodule\t   ctrl\t      module [path]\t...[args..]\t\t     #\n"
                      "# name\ttype\t   flag\t\t\t\t\t\t\t     #\n\n"),
    "/etc/anacrontab": ("# /etc/anacrontab: configuration file for anacron\n"
                         "\n"
                         "# See anacron(8) and anacrontab(5) for details.\n"
                         "\n"
                         "SHELL=/bin/sh\n"
                         "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
                         "HOME=/root\n"
                         "LOGNAME=root\n"
                         "\n"
                         "# These replace cron's entries\n"
                         "1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n"
                         "7\t10\tcron.weekly\trun-parts --report /etc/cron.weekly\n"
                         "@monthly\t15\tcron.monthly\trun-parts --report /etc/cron.monthly\n"),
    "/etc/cron.d/anacron": ("# /etc/cron.d/anacron: crontab entries for the anacron package\n"
                             "\n"
                             "SHELL=/bin/sh\n"
                             "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
                             "\n"
                             "30 7-23 * * *   root\t[ -x /etc/init.d/anacron ] && if [ ! -d /run/systemd/system ]; th"
                             "en /usr/sbin/invoke-rc.d anacron start >/dev/null; fi\n"),
    "/etc/cron.daily/dpkg": ("#!/bin/sh\n"
                              "\n"
                              "# Skip if systemd is running.\n"
                              "if [ -d /run/systemd/system ]; then\n"
                              "  exit 0\n"
                              "fi\n"
                              "\n"
                              "/usr/libexec/dpkg/dpkg-db-backup\n"),
    "/etc/cron.daily/logrotate": _CRON_DAILY_LOGROTATE,
    "/etc/cron.daily/passwd": ("#!/bin/sh\n\ncd /var/backups || exit 0\n\nfor FILE in passwd group shadow gshadow; "
                               "do\n        test -f /etc/$FILE              || continue\n"
                               "        cmp -s $FILE.bak /etc/$FILE     && continue\n"
                               "        cp -p /etc/$FILE $FILE.bak && chmod 600 $FILE.bak\ndone\n"),
    "/etc/cron.daily/apt-compat": _CRON_DAILY_APT,
    "/etc/cron.weekly/man-db": _CRON_WEEKLY_MANDB,
    "/etc/default/useradd": _DEFAULT_USERADD,
    "/etc/dhcp/dhclient.conf": _DHCLIENT,
    "/etc/xdg/user-dirs.defaults": ("# Default settings for user directories\n#\n# The values are relative pathnames "
                                    "from the home directory and\n# will be translated on a per-path-element basis "
                                    "into the users locale\nDESKTOP=Desktop\nDOWNLOAD=Downloads\n"
                                    "TEMPLATES=Templates\nPUBLICSHARE=Public\nDOCUMENTS=Documents\nMUSIC=Music\n"
                                    "PICTURES=Pictures\nVIDEOS=Videos\n# Another alternative is:\n"
                                    "#MUSIC=Documents/Music\n#PICTURES=Documents/Pictures\n"
                                    "#VIDEOS=Documents/Videos\n"),
    "/etc/xdg/user-dirs.conf": ("# This controls the behaviour of xdg-user-dirs-update which is run on user login\n"
                                "# You can also have per-user config in ~/.config/user-dirs.conf, or specify\n"
                                "# the XDG_CONFIG_HOME and/or XDG_CONFIG_DIRS to override this\n#\n\n"
                                "enabled=True\n\n# This sets the filename encoding to use. You can specify an "
                                "explicit\n# encoding, or \"locale\" which means the encoding of the users locale"
                                "\n# will be used\nfilename_encoding=UTF-8\n"),
    "/etc/iproute2/rt_tables": ("#\n# reserved values\n#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n#\n"
                                "# local\n#\n#1\tinr.ruhep\n"),
    "/etc/iproute2/rt_scopes": ("#\n# reserved values\n#\n0\tglobal\n255\tnowhere\n254\thost\n253\tlink\n#\n"
                                "# pseudo-reserved\n#\n200\tsite\n"),
    "/etc/iproute2/rt_realms": ("#\n"
                                 "# reserved values\n"
                                 "#\n"
                                 "0\tcosmos\n"
                                 "#\n"
                                 "# local\n"
                                 "#\n"
                                 "#1\tinr.ac\n"
                                 "#2\tinr.ruhep\n"
                                 "#3\tfreenet\n"
                                 "#4\tradio-msu\n"
                                 "#5\trussia\n"
                                 "#6\tinternet\n"),
    "/etc/iproute2/rt_protos": _RT_PROTOS,
    "/etc/iproute2/group": "# device group names\n0\tdefault\n",
    "/etc/iproute2/ematch_map": ("# lookup table for ematch kinds\n1\tcmp\n2\tnbyte\n3\tu32\n4\tmeta\n7\tcanid\n"
                                 "8\tipset\n9\tipt\n"),
    "/etc/nftables.conf": ("#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n"
                           "\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n"
                           "\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n"
                           "\t\ttype filter hook output priority filter;\n\t}\n}\n"),
    "/etc/avahi/hosts": ("# This file is part of avahi.\n"
                          "# \n"
                          "# avahi is free software; you can redistribute it and/or modify it\n"
                          "# under the terms of the GNU Lesser General Public License as\n"
                          "# published by the Free Software Foundation; either version 2 of the\n"
                          "# License, or (at your option) any later version.\n"
                          "#\n"
                          "# avahi is distributed in the hope that it will be useful, but WITHOUT\n"
                          "# ANY WARRANTY; without even the implied warranty of MERCHANTABILITY\n"
                          "# or FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public\n"
                          "# License for more details.\n"
                          "#\n"
                          "# You should have received a copy of the GNU Lesser General Public\n"
                          "# License along with avahi; if not, write to the Free Software\n"
                          "# Foundation, Inc., 59 Temple Place, Suite 330, Boston, MA 02111-1307\n"
                          "# USA.\n"
                          "\n"
                          "# This file contains static ip address <-> host name mappings.  These\n"
                          "# can be useful to publish services on behalf of a non-avahi enabled\n"
                          "# device. Please bear in mind that host names are expected to be\n"
                          "# fully qualified domain names, i.e. ending in .local!\n"
                          "\n"
                          "# See avahi.hosts(5) for more information on this configuration file!\n"
                          "\n"
                          "# Examples:\n"
                          "# 192.168.0.1 router.local\n"
                          "# 2001::81:1 test.local\n"),
    "/etc/alternatives/README": ("Please read the update-alternatives(1) man page for information on this\n"
                                 "directory and its contents.\n"),
    "/etc/fonts/conf.d/README": _FONTS_README,
    "/etc/sysctl.d/README.sysctl": _SYSCTL_README,
    "/etc/udev/udev.conf": ("# see udev.conf(5) for details\n#\n# udevd is also started in the initrd.  When this "
                            "file is modified you might\n# also want to rebuild the initrd, so that it will include "
                            "the modified configuration.\n\n#udev_log=info\n#children_max=\n#exec_delay=\n"
                            "#event_timeout=180\n#timeout_signal=SIGKILL\n#resolve_names=early\n"),
    "/etc/systemd/sleep.conf": ("#  This file is part of systemd.\n"
                                "#\n"
                                "#  systemd is free software; you can redistribute it and/or modify it under the\n"
                                "#  terms of the GNU Lesser General Public License as published by the Free\n"
                                "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                                "#  any later version.\n"
                                "#\n"
                                "# Entries in this file show the compile time defaults. Local configuration\n"
                                "# should be created by either modifying this file, or by creating \"drop-ins\" in\n"
                                "# the sleep.conf.d/ subdirectory. The latter is generally recommended.\n"
                                "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                                "#\n"
                                "# See systemd-sleep.conf(5) for details.\n"
                                "\n"
                                "[Sleep]\n"
                                "#AllowSuspend=yes\n"
                                "#AllowHibernation=yes\n"
                                "#AllowSuspendThenHibernate=yes\n"
                                "#AllowHybridSleep=yes\n"
                                "#SuspendMode=\n"
                                "#SuspendState=mem standby freeze\n"
                                "#HibernateMode=platform shutdown\n"
                                "#HibernateState=disk\n"
                                "#HybridSleepMode=suspend platform shutdown\n"
                                "#HybridSleepState=disk\n"
                                "#HibernateDelaySec=\n"
                                "#SuspendEstimationSec=60min\n"),
    "/etc/systemd/networkd.conf": ("#  This file is part of systemd.\n"
                                   "#\n"
                                   "#  systemd is free software; you can redistribute it and/or modify it under the\n"
                                   "#  terms of the GNU Lesser General Public License as published by the Free\n"
                                   "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                                   "#  any later version.\n"
                                   "#\n"
                                   "# Entries in this file show the compile time defaults. Local configuration\n"
                                   "# should be created by either modifying this file, or by creating \"drop-ins\" in"
                                   "\n"
                                   "# the networkd.conf.d/ subdirectory. The latter is generally recommended.\n"
                                   "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                                   "#\n"
                                   "# See networkd.conf(5) for details.\n"
                                   "\n"
                                   "[Network]\n"
                                   "#SpeedMeter=no\n"
                                   "#SpeedMeterIntervalSec=10sec\n"
                                   "#ManageForeignRoutingPolicyRules=yes\n"
                                   "#ManageForeignRoutes=yes\n"
                                   "#RouteTable=\n"
                                   "\n"
                                   "[DHCPv4]\n"
                                   "#DUIDType=vendor\n"
                                   "#DUIDRawData=\n"
                                   "\n"
                                   "[DHCPv6]\n"
                                   "#DUIDType=vendor\n"
                                   "#DUIDRawData=\n"),
    "/etc/systemd/pstore.conf": ("#  This file is part of systemd.\n"
                                 "#\n"
                                 "#  systemd is free software; you can redistribute it and/or modify it under the\n"
                                 "#  terms of the GNU Lesser General Public License as published by the Free\n"
                                 "#  Software Foundation; either version 2.1 of the License, or (at your option)\n"
                                 "#  any later version.\n"
                                 "#\n"
                                 "# Entries in this file show the compile time defaults. Local configuration\n"
                                 "# should be created by either modifying this file, or by creating \"drop-ins\" in\n"
                                 "# the pstore.conf.d/ subdirectory. The latter is generally recommended.\n"
                                 "# Defaults can be restored by simply deleting this file and all drop-ins.\n"
                                 "#\n"
                                 "# See pstore.conf(5) for details.\n"
                                 "\n"
                                 "[PStore]\n"
                                 "#Storage=external\n"
                                 "#Unlink=yes\n"),
    "/etc/e2scrub.conf": ("# e2scrub configuration file\n"
                           "\n"
                           "# Uncomment to enable automatic periodic runs of e2scrub_all\n"
                           "# (either via cron or via a systemd timer)\n"
                           "# periodic_e2scrub=1\n"
                           "\n"
                           "# e-mail destination used by e2scrub_fail when problems are found with\n"
                           "# the file system.\n"
                           "# recipient=root\n"
                           "\n"
                           "# e-mail sender used by e2scrub_fail when problems are found with\n"
                           "# the file system.\n"
                           "# sender=e2scrub@host.domain.name\n"
                           "\n"
                           "# Snapshots will be created to run fsck; the snapshot will be of this size.\n"
                           "# snap_size_mb=256\n"
                           "\n"
                           "# Set this to 1 to enable fstrim for everyone.\n"
                           "# fstrim=0\n"
                           "\n"
                           "# Arguments passed into e2fsck.\n"
                           "# e2fsck_opts=\"-vtt\"\n"
                           "\n"
                           "# Set this to 1 to have e2scrub_all scrub all LVs, not just the mounted ones.\n"
                           "# scrub_all=0\n"),
    "/etc/bindresvport.blacklist": ("#\n"
                                     "# This file contains a list of port numbers between 600 and 1024,\n"
                                     "# which should not be used by bindresvport. bindresvport is mostly\n"
                                     "# called by RPC services. This mostly solves the problem, that a\n"
                                     "# RPC service uses a well known port of another service.\n"
                                     "#\n"
                                     "631\t# cups\n"
                                     "636\t# ldaps\n"
                                     "655\t# tinc\n"
                                     "774\t# rpasswd\n"
                                     "783\t# spamd\n"
                                     "873\t# rsync\n"
                                     "921\t# lwresd\n"
                                     "993\t# imaps\n"
                                     "995\t# pops\n"),
    "/etc/bash_completion": ". /usr/share/bash-completion/bash_completion\n",
    "/etc/ufw/applications.d/openssh-server": ("[OpenSSH]\ntitle=Secure shell server, an rshd replacement\n"
                                               "description=OpenSSH is a free implementation of the Secure Shell "
                                               "protocol.\nports=22/tcp\n"),
    "/etc/vim/vimrc.tiny": _VIMRC_TINY,
    "/etc/dbus-1/system.d/.placeholder": "",
})


# openssh-server's postinst copies its template to /etc/ssh/sshd_config (ucf): the same text in both places.
SSHD_CONFIG = """\

# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

# This sshd was compiled with PATH=/usr/local/bin:/usr/bin:/bin:/usr/games

# The strategy used for options in the default sshd_config shipped with
# OpenSSH is to specify options with their default value where
# possible, but leave them commented.  Uncommented options override the
# default value.

Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#AddressFamily any
#ListenAddress 0.0.0.0
#ListenAddress ::

#HostKey /etc/ssh/ssh_host_rsa_key
#HostKey /etc/ssh/ssh_host_ecdsa_key
#HostKey /etc/ssh/ssh_host_ed25519_key

# Ciphers and keying
#RekeyLimit default none

# Logging
#SyslogFacility AUTH
#LogLevel INFO

# Authentication:

#LoginGraceTime 2m
#PermitRootLogin prohibit-password
#StrictModes yes
#MaxAuthTries 6
#MaxSessions 10

#PubkeyAuthentication yes

# Expect .ssh/authorized_keys2 to be disregarded by default in future.
#AuthorizedKeysFile\t.ssh/authorized_keys .ssh/authorized_keys2

#AuthorizedPrincipalsFile none

#AuthorizedKeysCommand none
#AuthorizedKeysCommandUser nobody

# For this to work you will also need host keys in /etc/ssh/ssh_known_hosts
#HostbasedAuthentication no
# Change to yes if you don't trust ~/.ssh/known_hosts for
# HostbasedAuthentication
#IgnoreUserKnownHosts no
# Don't read the user's ~/.rhosts and ~/.shosts files
#IgnoreRhosts yes

# To disable tunneled clear text passwords, change to no here!
#PasswordAuthentication yes
#PermitEmptyPasswords no

# Change to yes to enable challenge-response passwords (beware issues with
# some PAM modules and threads)
KbdInteractiveAuthentication no

# Kerberos options
#KerberosAuthentication no
#KerberosOrLocalPasswd yes
#KerberosTicketCleanup yes
#KerberosGetAFSToken no

# GSSAPI options
#GSSAPIAuthentication no
#GSSAPICleanupCredentials yes
#GSSAPIStrictAcceptorCheck yes
#GSSAPIKeyExchange no

# Set this to 'yes' to enable PAM authentication, account processing,
# and session processing. If this is enabled, PAM authentication will
# be allowed through the KbdInteractiveAuthentication and
# PasswordAuthentication.  Depending on your PAM configuration,
# PAM authentication via KbdInteractiveAuthentication may bypass
# the setting of "PermitRootLogin prohibit-password".
# If you just want the PAM account and session checks to run without
# PAM authentication, then enable this but set PasswordAuthentication
# and KbdInteractiveAuthentication to 'no'.
UsePAM yes

#AllowAgentForwarding yes
#AllowTcpForwarding yes
#GatewayPorts no
X11Forwarding yes
#X11DisplayOffset 10
#X11UseLocalhost yes
#PermitTTY yes
PrintMotd no
#PrintLastLog yes
#TCPKeepAlive yes
#PermitUserEnvironment no
#Compression delayed
#ClientAliveInterval 0
#ClientAliveCountMax 3
#UseDNS no
#PidFile /run/sshd.pid
#MaxStartups 10:30:100
#PermitTunnel no
#ChrootDirectory none
#VersionAddendum none

# no default banner path
#Banner none

# Allow client to pass locale environment variables
AcceptEnv LANG LC_*

# override default of no subsystems
Subsystem\tsftp\t/usr/lib/openssh/sftp-server

# Example of overriding settings on a per-user basis
#Match User anoncvs
#\tX11Forwarding no
#\tAllowTcpForwarding no
#\tPermitTTY no
#\tForceCommand cvs server
"""

_BASH_COMPLETION_SH = """\
# shellcheck shell=sh disable=SC1091,SC2039,SC2166
# Check for interactive bash and that we haven't already been sourced.
if [ "x${BASH_VERSION-}" != x -a "x${PS1-}" != x -a "x${BASH_COMPLETION_VERSINFO-}" = x ]; then

    # Check for recent enough version of bash.
    if [ "${BASH_VERSINFO[0]}" -gt 4 ] ||
        [ "${BASH_VERSINFO[0]}" -eq 4 -a "${BASH_VERSINFO[1]}" -ge 2 ]; then
        [ -r "${XDG_CONFIG_HOME:-$HOME/.config}/bash_completion" ] &&
            . "${XDG_CONFIG_HOME:-$HOME/.config}/bash_completion"
        if shopt -q progcomp && [ -r /usr/share/bash-completion/bash_completion ]; then
            # Source completion code.
            . /usr/share/bash-completion/bash_completion
        fi
    fi

fi
"""

SHIPPED.update({
    "/usr/share/openssh/sshd_config": SSHD_CONFIG,
    "/usr/share/openssh/sshd_config.md5sum": ("# Historical md5sums of the default /etc/ssh/sshd_config up to and inc"
                                              "luding\n"
                                              "# 1:7.3p1-5.\n"
                                              "0d06fc337cee10609d4833dc88df740f\n"
                                              "10dc68360f6658910a98a051273de22c\n"
                                              "11f9e107b4d13bbcabe7f8e8da734371\n"
                                              "16c827adcff44efaca05ec5eea6383d7\n"
                                              "2eeff28468576c3f2e538314e177687b\n"
                                              "386c8b9079625b78f6d624ae506958ae\n"
                                              "38fc7b31b3e3078848f0eec457d3e050\n"
                                              "395c5e13801f9b4f17c2cb54aa634fbd\n"
                                              "423d5796cee663af2d0f24c4d520b578\n"
                                              "42be2cb5b64bc91443b2e46969d2d539\n"
                                              "42cd8b7c5ea9e440d3efa50b9a1bb444\n"
                                              "4f56ca8d0b5dfdaeb732becd3292ce5d\n"
                                              "54998a682a97af8449e9de0316eacf1d\n"
                                              "5c0bdc1735accbdc062381149937ec4a\n"
                                              "6357b54acf8e089c57544e06d1bbec53\n"
                                              "6a621d8bc448987e5a8a613c40307a4c\n"
                                              "702a79962e60aa17c6d3df742e8ec670\n"
                                              "7a69eff91ec92b4e065b8dd8846366b2\n"
                                              "7c60e22f183b6219c684f15ce24153fd\n"
                                              "8304e780c43d4a606f695c8965f48299\n"
                                              "8b9e70ee87f4b822714e2ed7af5b70dc\n"
                                              "8caefdd9e251b7cc1baa37874149a870\n"
                                              "90baeb1c778464d2da610f8268939719\n"
                                              "962a382e51f43f80109131838ca326ba\n"
                                              "96eaf22faba705a37905282f6ad69d64\n"
                                              "9cb6cd83be1c21f73476be629b163c01\n"
                                              "a07a9865cd33b85a1426cd67954c6fa0\n"
                                              "ae1e844b43986e2a964cf84f46b50c5b\n"
                                              "b516afa5a1e298f4cd00952b36dd623f\n"
                                              "b69fc974ee9b5a111bd473ef54cdd232\n"
                                              "ba9c3f808c811d6f944ad10a508c4767\n"
                                              "bccf9af9c7027afd0895d8ff8e02761a\n"
                                              "bd3a2b95f8b4b180eed707794ad81e4d\n"
                                              "c34586b56496f81a10615c002685fc74\n"
                                              "c47555a21189a6b703d2c5d37d2c50ed\n"
                                              "cac079e87c0ae0d77eafc9b285e36348\n"
                                              "d224f92823483333432974f63cb6dc66\n"
                                              "d50ef9ef2aa51cb9f808f6a776260c0a\n"
                                              "e0029e1e9871d4d2b673ee6d70a38614\n"
                                              "e086e7eb521ccc5776371b2e198f0702\n"
                                              "e101f74dc7381527e9aefa1f78b01a7f\n"
                                              "e24f749808133a27d94fda84a89bb27b\n"
                                              "ec16c3dd0203f13885d74ce529719fda\n"
                                              "efcff5380823d4e3f5039620c2e08459\n"
                                              "f58056370a64dbd2017d7486421c281d\n"
                                              "fe396d52df77f1fbf710591d4dbf3311\n"
                                              "\n"
                                              "# From this point on, we have four md5sums for each released version o"
                                              "f\n"
                                              "# sshd_config, depending on the state of openssh-server/permit-root-lo"
                                              "gin\n"
                                              "# and openssh-server/password-authentication; the plain copy plus the "
                                              "result\n"
                                              "# of running through either or both of the following:\n"
                                              "#\n"
                                              "#   sed 's/^#*PermitRootLogin .*/PermitRootLogin yes/'\n"
                                              "#   sed 's/^#PasswordAuthentication .*/PasswordAuthentication no/'\n"
                                              "#\n"
                                              "# This obviously leaves something to be desired in terms of maintainab"
                                              "ility.\n"
                                              "#\n"
                                              "# The following covers up to 1:7.8p1-1, including everything except th"
                                              "e\n"
                                              "# latest version of sshd_config.  It should be extended any time sshd_"
                                              "config\n"
                                              "# changes.\n"
                                              "\n"
                                              "# From 1:7.4p1-1:\n"
                                              "f8ecd8f588749a0e39a5b1d3ff261cb2\n"
                                              "0f923c50ef1b00e1e88e02736727f03e\n"
                                              "abc2568a7ec0cb54c584ea03c7a4f854\n"
                                              "17851b145a2515fce2e8d0b9020d5cd4\n"
                                              "\n"
                                              "# From 1:7.4p1-6:\n"
                                              "bbcdf7b77777d40996e287495bb96e47\n"
                                              "55dd47f61a4af5d1a8884ec590ce33ef\n"
                                              "e1375e853a36f9bcd5faeb4b8c570dd1\n"
                                              "fa6d314c0ab05933ab970fd362ab2800\n"
                                              "\n"
                                              "# From 1:7.4p1-7:\n"
                                              "bbad7ed242a834e831c7066901cee49e\n"
                                              "df8447ce600dd3d6bc4048ccc2faa536\n"
                                              "87adc8952a7f06efdda8473fd772997f\n"
                                              "14301f8b9e39c72b3f929dc70e41ebf6\n"
                                              "\n"
                                              "# From 1:7.5p1-1:\n"
                                              "739d6887c8f3dd71a9168c614c07175c\n"
                                              "cc463c55b512da68e807784f675a1301\n"
                                              "203e9b92fe3623aeba277ee44297f7dd\n"
                                              "1d29cac6b0dd5c0004cf7d80b823715c\n"
                                              "\n"
                                              "# From 1:7.7p1-1:\n"
                                              "cc873ab3ccc9cf3a3830c3c0728c0d0b\n"
                                              "2d0b1d2719c01b15457401fd97d607ed\n"
                                              "8ce930e15835a8f46285315ed0da7f4a\n"
                                              "8a71a3620605f21ac3ef16fd5d23f76a\n"
                                              "\n"
                                              "# From 1:7.8p1-1:\n"
                                              "55570f990ec9c3b8d19c19ab4d0b8eb8\n"
                                              "0b8a28dca5cdbace0cd85fcd7794cba8\n"
                                              "18df1377273c4d51d4c03c9adc31021f\n"
                                              "63284e767f6ccf2375ef80507c564797\n"
                                              "\n"
                                              "# From 1:8.2p1-1:\n"
                                              "6dbdc3a27e1953d209f929df7aff0c57\n"
                                              "0ef8c8fe6a3afd12382dbb93cd7bbb4e\n"
                                              "9f1bec115595c0f76282d80abe5d9bcc\n"
                                              "ae1a449c8adb31cb603e28fda5342696\n"
                                              "\n"
                                              "# From 1:8.7p1-1:\n"
                                              "fe83fd23553510bb632dc8e6e35ab41a\n"
                                              "d96ecd9064ea650c44372a5a33d3e497\n"
                                              "7fdb195ac56e0bf1992e18ac656811af\n"
                                              "4e03b4df60cd00c651777ec14ff76aef\n"),  # noqa: S324
    "/etc/profile.d/bash_completion.sh": _BASH_COMPLETION_SH,
    "/etc/grub.d/40_custom": ("#!/bin/sh\nexec tail -n +3 $0\n# This file provides an easy way to add custom menu "
                              "entries.  Simply type the\n# menu entries you want to add after this comment.  Be "
                              "careful not to change\n# the 'exec tail' line above.\n"),
    "/etc/grub.d/41_custom": ("#!/bin/sh\n"
                               "cat <<EOF\n"
                               "if [ -f  \\${config_directory}/custom.cfg ]; then\n"
                               "  source \\${config_directory}/custom.cfg\n"
                               "elif [ -z \"\\${config_directory}\" -a -f  \\$prefix/custom.cfg ]; then\n"
                               "  source \\$prefix/custom.cfg\n"
                               "fi\n"
                               "EOF\n"
                               "\n"),
    "/usr/lib/sysctl.d/50-pid-max.conf": ("#  This file is part of systemd.\n"
                                          "#\n"
                                          "#  systemd is free software; you can redistribute it and/or modify it\n"
                                          "#  under the terms of the GNU Lesser General Public License as published b"
                                          "y\n"
                                          "#  the Free Software Foundation; either version 2.1 of the License, or\n"
                                          "#  (at your option) any later version.\n"
                                          "\n"
                                          "# See sysctl.d(5) and core(5) for documentation.\n"
                                          "\n"
                                          "# To override settings in this file, create a local file in /etc\n"
                                          "# (e.g. /etc/sysctl.d/90-override.conf), and put any assignments\n"
                                          "# there.\n"
                                          "\n"
                                          "# Bump the numeric PID range to make PID collisions less likely.\n"
                                          "# 2^22 and 2^15 is possible maximum of 64bit and 32bit kernels respectivel"
                                          "y.\n"
                                          "kernel.pid_max = 4194304\n"),
    "/usr/lib/tmpfiles.d/tmp.conf": ("#  This file is part of systemd.\n"
                                     "#\n"
                                     "#  systemd is free software; you can redistribute it and/or modify it\n"
                                     "#  under the terms of the GNU Lesser General Public License as published by\n"
                                     "#  the Free Software Foundation; either version 2.1 of the License, or\n"
                                     "#  (at your option) any later version.\n"
                                     "\n"
                                     "# See tmpfiles.d(5) for details\n"
                                     "\n"
                                     "# Clear tmp directories separately, to make them easier to override\n"
                                     "D /tmp 1777 root root -\n"
                                     "#q /var/tmp 1777 root root 30d\n"),
    "/usr/lib/tmpfiles.d/home.conf": ("#  This file is part of systemd.\n"
                                      "#\n"
                                      "#  systemd is free software; you can redistribute it and/or modify it\n"
                                      "#  under the terms of the GNU Lesser General Public License as published by\n"
                                      "#  the Free Software Foundation; either version 2.1 of the License, or\n"
                                      "#  (at your option) any later version.\n"
                                      "\n"
                                      "# See tmpfiles.d(5) for details\n"
                                      "\n"
                                      "Q /home 0755 - - -\n"
                                      "q /srv 0755 - - -\n"),
})


_VIMRC = ("\" $VIMRUNTIME refers to the versioned system directory where Vim stores its\n"
          "\" system runtime files -- /usr/share/vim/vim<version>.\n"
          "\"\n"
          "\" Vim will load $VIMRUNTIME/defaults.vim if the user does not have a vimrc.\n"
          "\" This happens after /etc/vim/vimrc(.local) are loaded, so it will override\n"
          "\" any settings in these files.\n"
          "\"\n"
          "\" If you don't want that to happen, uncomment the below line to prevent\n"
          "\" defaults.vim from being loaded.\n"
          "\" let g:skip_defaults_vim = 1\n"
          "\"\n"
          "\" If you would rather _use_ default.vim's settings, but have the system or\n"
          "\" user vimrc override its settings, then uncomment the line below.\n"
          "\" source $VIMRUNTIME/defaults.vim\n"
          "\n"
          "\" All Debian-specific settings are defined in $VIMRUNTIME/debian.vim and\n"
          "\" sourced by the call to :runtime you can find below.  If you wish to change\n"
          "\" any of those settings, you should do it in this file or\n"
          "\" /etc/vim/vimrc.local, since debian.vim will be overwritten everytime an\n"
          "\" upgrade of the vim packages is performed. It is recommended to make changes\n"
          "\" after sourcing debian.vim so your settings take precedence.\n"
          "\n"
          "runtime! debian.vim\n"
          "\n"
          "\" Uncomment the next line to make Vim more Vi-compatible\n"
          "\" NOTE: debian.vim sets 'nocompatible'.  Setting 'compatible' changes\n"
          "\" numerous options, so any other options should be set AFTER changing\n"
          "\" 'compatible'.\n"
          "\"set compatible\n"
          "\n"
          "\" Vim5 and later versions support syntax highlighting. Uncommenting the next\n"
          "\" line enables syntax highlighting by default.\n"
          "\"syntax on\n"
          "\n"
          "\" If using a dark background within the editing area and syntax highlighting\n"
          "\" turn on this option as well\n"
          "\"set background=dark\n"
          "\n"
          "\" Uncomment the following to have Vim jump to the last position when\n"
          "\" reopening a file\n"
          "\"au BufReadPost * if line(\"'\\\"\") > 1 && line(\"'\\\"\") <= line(\"$\") | exe \"normal! g'\\\"\" | end"
          "if\n"
          "\n"
          "\" Uncomment the following to have Vim load indentation rules and plugins\n"
          "\" according to the detected filetype.\n"
          "\"filetype plugin indent on\n"
          "\n"
          "\" The following are commented out as they cause vim to behave a lot\n"
          "\" differently from regular Vi. They are highly recommended though.\n"
          "\"set showcmd\t\t\" Show (partial) command in status line.\n"
          "\"set showmatch\t\t\" Show matching brackets.\n"
          "\"set ignorecase\t\t\" Do case insensitive matching\n"
          "\"set smartcase\t\t\" Do smart case matching\n"
          "\"set incsearch\t\t\" Incremental search\n"
          "\"set autowrite\t\t\" Automatically save before commands like :next and :make\n"
          "\"set hidden\t\t\" Hide buffers when they are abandoned\n"
          "\"set mouse=a\t\t\" Enable mouse usage (all modes)\n"
          "\n"
          "\" Source a global configuration file if available\n"
          "if filereadable(\"/etc/vim/vimrc.local\")\n"
          "  source /etc/vim/vimrc.local\n"
          "endif\n"
          "\n")

_SUDO_CONF = ("#\n"
              "# Default /etc/sudo.conf file\n"
              "#\n"
              "# Sudo plugins:\n"
              "#   Plugin plugin_name plugin_path plugin_options ...\n"
              "#\n"
              "# The plugin_path is relative to /usr/libexec/sudo unless\n"
              "#   fully qualified.\n"
              "# The plugin_name corresponds to a global symbol in the plugin\n"
              "#   that contains the plugin interface structure.\n"
              "# The plugin_options are optional.\n"
              "#\n"
              "# The sudoers plugin is used by default if no Plugin lines are present.\n"
              "#Plugin sudoers_policy sudoers.so\n"
              "#Plugin sudoers_io sudoers.so\n"
              "#Plugin sudoers_audit sudoers.so\n"
              "\n"
              "#\n"
              "# Sudo askpass:\n"
              "#   Path askpass /path/to/askpass\n"
              "#\n"
              "# An askpass helper program may be specified to provide a graphical\n"
              "# password prompt for \"sudo -A\" support.  Sudo does not ship with its\n"
              "# own askpass program but can use the OpenSSH askpass.\n"
              "#\n"
              "# Use the OpenSSH askpass\n"
              "#Path askpass /usr/X11R6/bin/ssh-askpass\n"
              "#\n"
              "# Use the Gnome OpenSSH askpass\n"
              "#Path askpass /usr/libexec/openssh/gnome-ssh-askpass\n"
              "\n"
              "#\n"
              "# Sudo device search path:\n"
              "#   Path devsearch /dev/path1:/dev/path2:/dev\n"
              "#\n"
              "# A colon-separated list of paths to check when searching for a user's\n"
              "# terminal device.\n"
              "#\n"
              "#Path devsearch /dev/pts:/dev/vt:/dev/term:/dev/zcons:/dev/pty:/dev\n"
              "\n"
              "#\n"
              "# Sudo command interception:\n"
              "#   Path intercept /path/to/sudo_intercept.so\n"
              "#\n"
              "# Path to a shared library containing replacements for the execv(),\n"
              "# execve() and fexecve() library functions that perform a policy check\n"
              "# to verify the command is allowed and simply return an error if not.\n"
              "# This is used to implement the \"intercept\" functionality on systems that\n"
              "# support LD_PRELOAD or its equivalent.\n"
              "#\n"
              "# The compiled-in value is usually sufficient and should only be changed\n"
              "# if you rename or move the sudo_intercept.so file.\n"
              "#\n"
              "#Path intercept /usr/libexec/sudo/sudo_intercept.so\n"
              "\n"
              "#\n"
              "# Sudo noexec:\n"
              "#   Path noexec /path/to/sudo_noexec.so\n"
              "#\n"
              "# Path to a shared library containing replacements for the execv(),\n"
              "# execve() and fexecve() library functions that just return an error.\n"
              "# This is used to implement the \"noexec\" functionality on systems that\n"
              "# support LD_PRELOAD or its equivalent.\n"
              "#\n"
              "# The compiled-in value is usually sufficient and should only be changed\n"
              "# if you rename or move the sudo_noexec.so file.\n"
              "#\n"
              "#Path noexec /usr/libexec/sudo/sudo_noexec.so\n"
              "\n"
              "#\n"
              "# Sudo plugin directory:\n"
              "#   Path plugin_dir /path/to/plugins\n"
              "#\n"
              "# The default directory to use when searching for plugins that are\n"
              "# specified without a fully qualified path name.\n"
              "#\n"
              "#Path plugin_dir /usr/libexec/sudo\n"
              "\n"
              "#\n"
              "# Core dumps:\n"
              "#   Set disable_coredump true|false\n"
              "#\n"
              "# By default, sudo disables core dumps while it is executing (they\n"
              "# are re-enabled for the command that is run).\n"
              "# To aid in debugging sudo problems, you may wish to enable core\n"
              "# dumps by setting \"disable_coredump\" to false.\n"
              "#\n"
              "#Set disable_coredump false\n"
              "\n"
              "#\n"
              "# User groups:\n"
              "#   Set group_source static|dynamic|adaptive\n"
              "#\n"
              "# Sudo passes the user's group list to the policy plugin.\n"
              "# If the user is a member of the maximum number of groups (usually 16),\n"
              "# sudo will query the group database directly to be sure to include\n"
              "# the full list of groups.\n"
              "#\n"
              "# On some systems, this can be expensive so the behavior is configurable.\n"
              "# The \"group_source\" setting has three possible values:\n"
              "#   static   - use the user's list of groups returned by the kernel.\n"
              "#   dynamic  - query the group database to find the list of groups.\n"
              "#   adaptive - if user is in less than the maximum number of groups.\n"
              "#\t       use the kernel list, else query the group database.\n"
              "#\n"
              "#Set group_source static\n"
              "\n"
              "#\n"
              "# Sudo interface probing:\n"
              "#   Set probe_interfaces true|false\n"
              "#\n"
              "# By default, sudo will probe the system's network interfaces and\n"
              "# pass the IP address of each enabled interface to the policy plugin.\n"
              "# On systems with a large number of virtual interfaces this may take\n"
              "# a noticeable amount of time.\n"
              "#\n"
              "#Set probe_interfaces false\n"
              "\n"
              "#\n"
              "# Sudo debug files:\n"
              "#   Debug program /path/to/debug_log subsystem@priority[,subsyste@priority]\n"
              "#\n"
              "# Sudo and related programs support logging debug information to a file.\n"
              "# The program is typically sudo, sudoers.so, sudoreplay, or visudo.\n"
              "#\n"
              "# Subsystems vary based on the program; \"all\" matches all subsystems.\n"
              "# Priority may be crit, err, warn, notice, diag, info, trace, or debug.\n"
              "# Multiple subsystem@priority may be specified, separated by a comma.\n"
              "#\n"
              "#Debug sudo /var/log/sudo_debug all@debug\n"
              "#Debug sudoers.so /var/log/sudoers_debug all@debug\n")

_CRON_DAILY_MANDB = ("#!/bin/sh\n"
                     "#\n"
                     "# man-db cron daily\n"
                     "\n"
                     "set -e\n"
                     "\n"
                     "if [ -d /run/systemd/system ]; then\n"
                     "    # Skip in favour of systemd timer.\n"
                     "    exit 0\n"
                     "fi\n"
                     "\n"
                     "# This should be set by cron, but apparently isn't always; see\n"
                     "# https://bugs.debian.org/209185.  Add fallbacks so that start-stop-daemon\n"
                     "# can be found.\n"
                     "export PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"\n"
                     "\n"
                     "iosched_idle=\n"
                     "# Don't try to change I/O priority in a vserver or OpenVZ.\n"
                     "if ! grep -Eq '(envID|VxID):.*[1-9]' /proc/self/status && \\\n"
                     "   { [ ! -d /proc/vz ] || [ -d /proc/bc ]; }; then\n"
                     "    iosched_idle='--iosched idle'\n"
                     "fi\n"
                     "\n"
                     "if ! [ -d /var/cache/man ]; then\n"
                     "    # Recover from deletion, per FHS.\n"
                     "    install -d -o man -g man -m 0755 /var/cache/man\n"
                     "fi\n"
                     "\n"
                     "# expunge old catman pages which have not been read in a week\n"
                     "if [ -d /var/cache/man ]; then\n"
                     "  cd /\n"
                     "  # shellcheck disable=SC2086\n"
                     "  start-stop-daemon --start --pidfile /dev/null --startas /bin/sh \\\n"
                     "\t--oknodo --chuid man $iosched_idle -- -c \\\n"
                     "\t\"find /var/cache/man -type f -name '*.gz' -atime +6 -print0 | \\\n"
                     "\t xargs -r0 rm -f\"\n"
                     "fi\n"
                     "\n"
                     "# regenerate man database\n"
                     "if [ -x /usr/bin/mandb ]; then\n"
                     "    # --pidfile /dev/null so it always starts; mandb isn't really a daemon,\n"
                     "    # but we want to start it like one.\n"
                     "    # shellcheck disable=SC2086\n"
                     "    start-stop-daemon --start --pidfile /dev/null \\\n"
                     "\t\t      --startas /usr/bin/mandb --oknodo --chuid man \\\n"
                     "\t\t      $iosched_idle \\\n"
                     "\t\t      -- --no-purge --quiet\n"
                     "fi\n"
                     "\n"
                     "exit 0\n")

SHIPPED.update({
    "/etc/vim/vimrc": _VIMRC,
    "/etc/sudo.conf": _SUDO_CONF,
    "/etc/cron.daily/man-db": _CRON_DAILY_MANDB,
})


# Files every bookworm desktop has that no package ships (made by the installer or a maintainer script): written
# by :mod:`.tree` for every case, never listed in dpkg's md5sums.
INSTALLED: dict[str, str] = {
    "/etc/nsswitch.conf": _NSSWITCH,
    "/etc/shells": ("# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n"
                    "/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n"),
}

# What :func:`.texts.config` writes into every file it makes: a file still holding this is filler, not Debian's.
FILLER_MARK = "# Installed by the "


def resolv_conf(nameserver: str) -> str:
    """/etc/resolv.conf as NetworkManager writes it for a DHCP lease naming one DNS server, with the office profile's
    ``ipv4.dns-options edns0`` (the capture's queries carry EDNS0: :mod:`dflab.evidence.network.dns`)."""
    return f"# Generated by NetworkManager\nnameserver {nameserver}\noptions edns0\n"
