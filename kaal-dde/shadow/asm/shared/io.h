/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KaaL's shadow of Linux's arch/x86/include/asm/shared/io.h: port I/O (in/out raise
 * #GP at user level) goes to the emulation, which uses the I/O port capability the
 * capability broker granted the driver's component for that device.
 */
#ifndef _ASM_X86_SHARED_IO_H
#define _ASM_X86_SHARED_IO_H

#include <linux/types.h>

/* Port I/O through the component's granted I/O ports (kaal-dde's glue); `size` is
 * 1, 2 or 4. */
extern u32 kaal_dde_port_in(u16 port, int size);
extern void kaal_dde_port_out(u16 port, u32 value, int size);

#define BUILDIO(bwl, type, size)					\
static inline void __out##bwl(type value, u16 port)			\
{									\
	kaal_dde_port_out(port, value, size);				\
}									\
									\
static inline type __in##bwl(u16 port)					\
{									\
	return (type)kaal_dde_port_in(port, size);			\
}

BUILDIO(b, u8, 1)
BUILDIO(w, u16, 2)
BUILDIO(l, u32, 4)
#undef BUILDIO

#define inb __inb
#define inw __inw
#define inl __inl
#define outb __outb
#define outw __outw
#define outl __outl

#endif
