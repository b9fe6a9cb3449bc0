/*
 * statx() without AT_NO_AUTOMOUNT where gVisor refuses it. Preloaded (LD_PRELOAD) into every process in a learner's
 * sandbox, with the fork guard.
 *
 * The gVisor release on our machines (Debian's runsc 20221219) fails statx() with EINVAL when AT_NO_AUTOMOUNT is
 * set, and coreutils sets it on every call: without this, `ls`, `stat`, `cp -a` and `du` fail in a learner's
 * terminal and in `!ls` from a notebook ("ls: cannot access '/': Invalid argument"). A sandbox has no automount
 * points, so asking again without the flag gives the same answer. Where statx() accepts the flag (newer gVisor,
 * runc) the first call succeeds and this changes nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf) {
    static statx_fn real;
    if (!real) real = (statx_fn)dlsym(RTLD_NEXT, "statx");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    int result = real(dirfd, path, flags, mask, buf);
    if (result == -1 && errno == EINVAL && (flags & AT_NO_AUTOMOUNT))
        result = real(dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
    return result;
}
