/* Placeholder until the module's tests land: skips (77) so the harness reports it. */
int
main(void)
{
	return 77;
}
