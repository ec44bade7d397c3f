/*
 * A QEMU TCG plugin that counts the guest instructions a program executes,
 * over all its threads, and prints the total when it exits:
 *
 *   qemu-aarch64 -plugin ./libcount_insns.so[,out=FILE] ./program
 *
 * The total goes to FILE if given (one number and a newline), else to stderr
 * as "insns: N".
 *
 * Each translated block adds its instruction count when it starts executing,
 * so a block left midway (a fault, a signal) counts in full; syscalls and
 * branches end blocks, so this is exact for ordinary code.
 *
 * Only the few declarations of QEMU's plugin API that this file uses are
 * written out here (from qemu-plugin.h of QEMU 7.2, API version 1), so that
 * building it needs no QEMU headers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* not looked into */
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

EXPORT int qemu_plugin_version = 1;

/*
 * In user mode every guest thread is a vCPU on its own host thread, and they
 * run in parallel: one shared counter would lose increments (an inline add is
 * not atomic) or bounce a cache line between threads on every block (an atomic
 * one). So each vCPU adds to its own slot, a cache line apart; a vCPU index
 * beyond the table shares the last slot atomically.
 */
#define SLOTS 256
static struct {
  uint64_t n;
  char pad[56];
} counts[SLOTS] __attribute__((aligned(64)));

static const char *out_path;

static void on_block(unsigned int vcpu, void *udata) {
  const uint64_t n = (uintptr_t)udata;
  if (vcpu < SLOTS - 1) {
    /* Only this vCPU's thread writes its slot: a plain add, made of relaxed
     * atomic accesses so that the final read is well defined. */
    __atomic_store_n(&counts[vcpu].n, __atomic_load_n(&counts[vcpu].n, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(&counts[SLOTS - 1].n, n, __ATOMIC_RELAXED);
  }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
                                       (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void on_program_exit(qemu_plugin_id_t id, void *udata) {
  (void)id;
  (void)udata;
  uint64_t total = 0;
  for (int i = 0; i < SLOTS; i++) total += __atomic_load_n(&counts[i].n, __ATOMIC_RELAXED);
  FILE *f = out_path ? fopen(out_path, "w") : NULL;
  if (f) {
    fprintf(f, "%llu\n", (unsigned long long)total);
    fclose(f);
  } else {
    if (out_path) fprintf(stderr, "count_insns: cannot write %s\n", out_path);
    fprintf(stderr, "insns: %llu\n", (unsigned long long)total);
  }
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                               char **argv) {
  (void)info;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "out=", 4) == 0) {
      out_path = strdup(argv[i] + 4);
    } else {
      fprintf(stderr, "count_insns: unknown argument %s (expected out=FILE)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_program_exit, NULL);
  return 0;
}
