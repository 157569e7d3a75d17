/* canon.c - placeholder, being written */
