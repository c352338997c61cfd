/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KaaL's DDE-Linux: what the glue's C files share (linux.c: devices, memory, the log;
 * tasks.c: cooperative tasks, timers, work queues, mutexes). Written for KaaL.
 */
#ifndef KAAL_DDE_GLUE_H
#define KAAL_DDE_GLUE_H

/* jiffies from the emulation's clock. */
void kaal_glue_update_jiffies(void);
/* Sleeps `ns`: a task yields to the event loop; the event loop itself waits. */
void kaal_glue_sleep_ns(unsigned long long ns);
/* Whether the caller is a task (a work item), which may sleep. */
int kaal_glue_in_task(void);

#endif
