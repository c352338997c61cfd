// SPDX-License-Identifier: GPL-2.0
/*
 * KaaL's DDE-Linux glue: cooperative tasks, timers, work queues and mutexes, for
 * drivers that sleep (Linux's e1000 runs its watchdog and resets as work items that
 * msleep and take mutexes). Written for KaaL over Linux's headers.
 *
 * The component has one thread. Each work item runs as a *task* on a stack of its own,
 * started and resumed by the component's event loop (kaal_dde_run). A task that
 * sleeps (msleep, schedule_timeout, a mutex another task holds) switches back to the
 * event loop, which resumes it once its time has come; the loop never waits while a
 * task is runnable, and sleeps until the earliest deadline (kaal_dde_next_deadline)
 * otherwise. Timers fire from the event loop, on its stack, as Linux runs them in
 * softirq context (they must not sleep there either).
 *
 * The event loop's own code (probe, open, the interrupt handler, transmit) cannot
 * yield: a sleep there waits in place, and a mutex a task holds is waited for by
 * running the tasks until it is free.
 */
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/jiffies.h>

#include "kaal_dde.h"
#include "glue.h"

/* ---- Switching stacks --------------------------------------------------------- */

/*
 * Saves the callee-saved registers on the current stack, stores its pointer in
 * *save and continues on `next` (a stack saved the same way). Written in assembly
 * because C cannot switch stacks; only ordinary user-level instructions.
 */
void kaal_glue_switch(unsigned long *save, unsigned long next);
asm(".pushsection .text\n"
    ".globl kaal_glue_switch\n"
    ".type kaal_glue_switch, @function\n"
    "kaal_glue_switch:\n"
    "	push %rbp\n"
    "	push %rbx\n"
    "	push %r12\n"
    "	push %r13\n"
    "	push %r14\n"
    "	push %r15\n"
    "	mov %rsp, (%rdi)\n"
    "	mov %rsi, %rsp\n"
    "	pop %r15\n"
    "	pop %r14\n"
    "	pop %r13\n"
    "	pop %r12\n"
    "	pop %rbx\n"
    "	pop %rbp\n"
    "	ret\n"
    ".size kaal_glue_switch, .-kaal_glue_switch\n"
    ".popsection\n");

#define TASKS 4
#define TASK_STACK (32 * 1024)

struct task {
	unsigned long rsp;
	void *stack;
	/* The work item it runs; NULL when free. */
	struct work_struct *work;
	/* Sleeping until this time (0: runnable). */
	unsigned long long wake_ns;
};

static struct task tasks[TASKS];
static struct task *running;
static unsigned long loop_rsp;
/* A mutex's owner when the event loop holds it. */
static struct task loop_marker;

int kaal_glue_in_task(void)
{
	return running != NULL;
}

static void to_loop(void)
{
	struct task *t = running;

	running = NULL;
	kaal_glue_switch(&t->rsp, loop_rsp);
}

static void task_main(void)
{
	for (;;) {
		struct work_struct *work = running->work;

		work->func(work);
		running->work = NULL;
		to_loop();
	}
}

static void resume(struct task *t)
{
	t->wake_ns = 0;
	running = t;
	kaal_glue_switch(&loop_rsp, t->rsp);
}

/* A free task, with a stack set up to enter task_main (NULL if none is free). */
static struct task *free_task(void)
{
	for (int i = 0; i < TASKS; i++) {
		struct task *t = &tasks[i];
		unsigned long *top;

		if (t->work)
			continue;
		if (!t->stack) {
			t->stack = kaal_dde_heap_alloc(TASK_STACK, 16);
			if (!t->stack) {
				pr_err("kaal-dde: no memory for a task's stack\n");
				return NULL;
			}
			top = (unsigned long *)((char *)t->stack + TASK_STACK);
			/* A call's alignment at task_main, its return address 0, then
			 * kaal_glue_switch's return address and six saved registers. */
			*--top = 0;
			*--top = (unsigned long)task_main;
			for (int r = 0; r < 6; r++)
				*--top = 0;
			t->rsp = (unsigned long)top;
		}
		return t;
	}
	return NULL;
}

static int is_running(struct work_struct *work)
{
	for (int i = 0; i < TASKS; i++)
		if (tasks[i].work == work)
			return 1;
	return 0;
}

void kaal_glue_sleep_ns(unsigned long long ns)
{
	if (!running) {
		kaal_dde_delay_ns(ns);
		kaal_glue_update_jiffies();
		return;
	}
	running->wake_ns = kaal_dde_now_ns() + (ns ? ns : 1);
	to_loop();
	kaal_glue_update_jiffies();
}

/* Lets the others run: a task yields until the next pass, the loop runs a pass. */
static void let_others_run(void)
{
	if (running) {
		running->wake_ns = 1;
		to_loop();
	} else {
		kaal_dde_run();
	}
}

/* ---- Timers ----------------------------------------------------------------------- */

#define TIMERS 32
static struct timer_list *timers[TIMERS];

void init_timer_key(struct timer_list *timer, void (*func)(struct timer_list *), unsigned int flags,
		    const char *name, struct lock_class_key *key)
{
	timer->entry.pprev = NULL;
	timer->function = func;
	timer->flags = flags;
}

static int unqueue(struct timer_list *timer)
{
	for (int i = 0; i < TIMERS; i++) {
		if (timers[i] == timer) {
			timers[i] = NULL;
			timer->entry.pprev = NULL;
			return 1;
		}
	}
	return 0;
}

int mod_timer(struct timer_list *timer, unsigned long expires)
{
	int was = unqueue(timer);

	timer->expires = expires;
	for (int i = 0; i < TIMERS; i++) {
		if (!timers[i]) {
			timers[i] = timer;
			/* timer_pending() reads this: non-NULL while queued. */
			timer->entry.pprev = (struct hlist_node **)&timers[i];
			return was;
		}
	}
	pr_err("kaal-dde: more than %d timers; %ps will not fire\n", TIMERS, timer->function);
	return was;
}

void add_timer(struct timer_list *timer)
{
	mod_timer(timer, timer->expires);
}

int timer_delete(struct timer_list *timer)
{
	return unqueue(timer);
}

/* One thread: a timer's function is never running elsewhere while this returns. */
int timer_delete_sync(struct timer_list *timer)
{
	return unqueue(timer);
}

int timer_shutdown_sync(struct timer_list *timer)
{
	return unqueue(timer);
}

int mod_timer_pending(struct timer_list *timer, unsigned long expires)
{
	return timer_pending(timer) ? mod_timer(timer, expires) : 0;
}

static void run_timers(void)
{
	for (int i = 0; i < TIMERS; i++) {
		struct timer_list *t = timers[i];

		if (t && time_after_eq(jiffies, t->expires)) {
			unqueue(t);
			t->function(t);
		}
	}
}

/* ---- Work queues ------------------------------------------------------------------ */

struct workqueue_struct {
	const char *name;
};

static struct workqueue_struct kaal_wq = { "kaal" };
struct workqueue_struct *system_wq = &kaal_wq;
struct workqueue_struct *system_long_wq = &kaal_wq;
struct workqueue_struct *system_unbound_wq = &kaal_wq;
struct workqueue_struct *system_power_efficient_wq = &kaal_wq;

static LIST_HEAD(pending);

struct workqueue_struct *alloc_workqueue(const char *fmt, unsigned int flags, int max_active, ...)
{
	return &kaal_wq;
}

void destroy_workqueue(struct workqueue_struct *wq)
{
}

bool queue_work_on(int cpu, struct workqueue_struct *wq, struct work_struct *work)
{
	if (test_and_set_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(work)))
		return false;
	list_add_tail(&work->entry, &pending);
	return true;
}

bool queue_delayed_work_on(int cpu, struct workqueue_struct *wq, struct delayed_work *dwork, unsigned long delay)
{
	if (test_and_set_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(&dwork->work)))
		return false;
	dwork->wq = wq;
	dwork->cpu = cpu;
	if (!delay)
		list_add_tail(&dwork->work.entry, &pending);
	else
		mod_timer(&dwork->timer, jiffies + delay);
	return true;
}

void delayed_work_timer_fn(struct timer_list *t)
{
	struct delayed_work *dwork = from_timer(dwork, t, timer);

	list_add_tail(&dwork->work.entry, &pending);
}

/* Takes a pending work item off its timer or the pending list. Whether it was. */
static bool unpend(struct work_struct *work, struct timer_list *timer)
{
	bool was = test_and_clear_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(work));

	if (timer)
		unqueue(timer);
	if (!list_empty(&work->entry))
		list_del_init(&work->entry);
	return was;
}

bool mod_delayed_work_on(int cpu, struct workqueue_struct *wq, struct delayed_work *dwork, unsigned long delay)
{
	bool was = unpend(&dwork->work, &dwork->timer);

	queue_delayed_work_on(cpu, wq, dwork, delay);
	return was;
}

static void wait_until_idle(struct work_struct *work)
{
	while (is_running(work) && !(running && running->work == work))
		let_others_run();
}

bool cancel_work_sync(struct work_struct *work)
{
	bool was = unpend(work, NULL);

	wait_until_idle(work);
	return was;
}

bool cancel_delayed_work(struct delayed_work *dwork)
{
	return unpend(&dwork->work, &dwork->timer);
}

bool cancel_delayed_work_sync(struct delayed_work *dwork)
{
	bool was = unpend(&dwork->work, &dwork->timer);

	wait_until_idle(&dwork->work);
	return was;
}

bool flush_work(struct work_struct *work)
{
	bool waited = false;

	while (test_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(work)) || is_running(work)) {
		if (running && running->work == work)
			break;
		waited = true;
		let_others_run();
	}
	return waited;
}

bool flush_delayed_work(struct delayed_work *dwork)
{
	/* A work item waiting on its timer is queued now, as Linux does. */
	if (unqueue(&dwork->timer))
		list_add_tail(&dwork->work.entry, &pending);
	return flush_work(&dwork->work);
}

void __flush_workqueue(struct workqueue_struct *wq)
{
	for (;;) {
		int busy = !list_empty(&pending);

		for (int i = 0; i < TASKS; i++)
			busy |= tasks[i].work && &tasks[i] != running;
		if (!busy)
			return;
		let_others_run();
	}
}

/* ---- Mutexes ---------------------------------------------------------------------- */

void __mutex_init(struct mutex *lock, const char *name, struct lock_class_key *key)
{
	atomic_long_set(&lock->owner, 0);
	INIT_LIST_HEAD(&lock->wait_list);
}

static long me(void)
{
	return (long)(running ? running : &loop_marker);
}

void mutex_lock(struct mutex *lock)
{
	while (atomic_long_read(&lock->owner))
		let_others_run();
	atomic_long_set(&lock->owner, me());
}

int mutex_lock_interruptible(struct mutex *lock)
{
	mutex_lock(lock);
	return 0;
}

int mutex_trylock(struct mutex *lock)
{
	if (atomic_long_read(&lock->owner))
		return 0;
	atomic_long_set(&lock->owner, me());
	return 1;
}

void mutex_unlock(struct mutex *lock)
{
	atomic_long_set(&lock->owner, 0);
}

/* ---- The event loop's side ---------------------------------------------------------- */

static int passes;

int kaal_dde_run(void)
{
	unsigned long long now;
	int runnable = 0;

	/* A pass from inside a pass (a mutex wait in a timer) only resumes tasks. */
	passes++;
	kaal_glue_update_jiffies();
	if (passes == 1)
		run_timers();
	now = kaal_dde_now_ns();
	for (int i = 0; i < TASKS; i++) {
		struct task *t = &tasks[i];

		if (t->work && t != running && !running && t->wake_ns <= now)
			resume(t);
	}
	while (!running && !list_empty(&pending)) {
		struct work_struct *work = list_first_entry(&pending, struct work_struct, entry);
		struct task *t;

		if (is_running(work))
			break;
		t = free_task();
		if (!t)
			break;
		list_del_init(&work->entry);
		clear_bit(WORK_STRUCT_PENDING_BIT, work_data_bits(work));
		t->work = work;
		resume(t);
	}
	passes--;
	/* Runnable now: a task that yielded for a turn, or queued work a free task can
	 * start (work whose previous run sleeps, or with every task busy, waits: the
	 * loop sleeps until a task's deadline instead of spinning). */
	for (int i = 0; i < TASKS; i++)
		runnable |= tasks[i].work && tasks[i].wake_ns <= now + 1;
	if (!list_empty(&pending)) {
		struct work_struct *first = list_first_entry(&pending, struct work_struct, entry);
		int free = 0;

		for (int i = 0; i < TASKS; i++)
			free |= !tasks[i].work;
		runnable |= free && !is_running(first);
	}
	return runnable;
}

unsigned long long kaal_dde_next_deadline(void)
{
	unsigned long long next = ~0ULL, at;
	unsigned long j = jiffies;

	for (int i = 0; i < TASKS; i++)
		if (tasks[i].work && tasks[i].wake_ns < next)
			next = tasks[i].wake_ns;
	for (int i = 0; i < TIMERS; i++) {
		if (!timers[i])
			continue;
		at = kaal_dde_now_ns();
		if (time_after(timers[i]->expires, j))
			at += (unsigned long long)(timers[i]->expires - j) * (1000000000ULL / HZ);
		if (at < next)
			next = at;
	}
	return next == ~0ULL ? 0 : next;
}
