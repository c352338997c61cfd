/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KaaL's shadow of Linux's arch/x86/include/asm/irqflags.h: it comes first on the
 * include path of every Linux file kaal-dde compiles.
 *
 * A driver runs as a user-level seL4 thread, where cli, sti and hlt raise #GP and popf
 * silently keeps the interrupt flag. Its "interrupts" are the component's event loop
 * running the driver's handler, so disabling them means deferring that handler: the
 * emulation keeps the flag (X86_EFLAGS_IF in the word these return) and runs a handler
 * that arrived while it was clear when it is set again.
 */
#ifndef _X86_IRQFLAGS_H_
#define _X86_IRQFLAGS_H_

#include <asm/processor-flags.h>

#ifndef __ASSEMBLY__

#include <asm/nospec-branch.h>

#define __cpuidle __section(".cpuidle.text")

/* The emulation's interrupt flag (kaal-dde's glue). */
extern unsigned long kaal_dde_irq_flags(void);
extern void kaal_dde_irq_disable(void);
extern void kaal_dde_irq_enable(void);
/* Waits for the component's next event (a driver's idle loop). */
extern void kaal_dde_idle(void);

static __always_inline unsigned long native_save_fl(void)
{
	return kaal_dde_irq_flags();
}

static __always_inline void native_irq_disable(void)
{
	kaal_dde_irq_disable();
}

static __always_inline void native_irq_enable(void)
{
	kaal_dde_irq_enable();
}

static inline __cpuidle void native_safe_halt(void)
{
	kaal_dde_irq_enable();
	kaal_dde_idle();
}

static inline __cpuidle void native_halt(void)
{
	kaal_dde_idle();
}

#include <linux/types.h>

static __always_inline unsigned long arch_local_save_flags(void)
{
	return native_save_fl();
}

static __always_inline void arch_local_irq_disable(void)
{
	native_irq_disable();
}

static __always_inline void arch_local_irq_enable(void)
{
	native_irq_enable();
}

static inline __cpuidle void arch_safe_halt(void)
{
	native_safe_halt();
}

static inline __cpuidle void halt(void)
{
	native_halt();
}

static __always_inline unsigned long arch_local_irq_save(void)
{
	unsigned long flags = arch_local_save_flags();

	arch_local_irq_disable();
	return flags;
}

static __always_inline int arch_irqs_disabled_flags(unsigned long flags)
{
	return !(flags & X86_EFLAGS_IF);
}

static __always_inline int arch_irqs_disabled(void)
{
	return arch_irqs_disabled_flags(arch_local_save_flags());
}

static __always_inline void arch_local_irq_restore(unsigned long flags)
{
	if (!arch_irqs_disabled_flags(flags))
		arch_local_irq_enable();
}

#endif /* !__ASSEMBLY__ */

#endif /* _X86_IRQFLAGS_H_ */
